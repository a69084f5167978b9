"""A real database per test: Settings pointing into tmp_path, init_db on enter, close_db on exit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from storeplane.db.lifecycle import close_db, init_db
from storeplane.settings import Settings
from storeplane.stores.models import Store, StoreStatus


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with the data folder (and so the SQLite file) in this test's tmp_path."""
    overrides.setdefault("data_dir", tmp_path / "data")
    return Settings(**overrides)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Settings]:
    """Tortoise has process-wide state: every test opens its own database and always closes it."""
    await init_db(settings)
    try:
        yield settings
    finally:
        await close_db()


async def create_store(
    name: str, *, owner: str = "alice", status: StoreStatus = StoreStatus.PENDING
) -> Store:
    return await Store.create(
        name=name,
        engine="woocommerce",
        status=status,
        namespace=f"store-{name}",
        helm_release=name,
        owner=owner,
    )
