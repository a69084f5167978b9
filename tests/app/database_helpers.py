"""A real database per test: Settings pointing into tmp_path, init_db on enter, close_db on exit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from storeplane.db.config import sqlite_path
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


@asynccontextmanager
async def sqlite_write_lock(
    settings: Settings, *, seconds: float, before_release: Callable[[sqlite3.Connection], None] | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Another connection holds the database's write lock for `seconds` (as a backup or a second process
    would); `before_release` runs inside its transaction, which then commits. Yields the holding task."""
    acquired = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(sqlite_path(settings.database_url), isolation_level=None, timeout=30)
        try:
            connection.execute("BEGIN IMMEDIATE")
            acquired.set()
            time.sleep(seconds)
            if before_release is not None:
                before_release(connection)
            connection.execute("COMMIT")
        finally:
            acquired.set()
            connection.close()

    holder = asyncio.create_task(asyncio.to_thread(hold))
    await asyncio.to_thread(acquired.wait, 30)
    try:
        yield holder
    finally:
        await holder
