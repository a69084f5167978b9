from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError

from storeplane.db.config import sqlite_path
from storeplane.db.lifecycle import DatabaseError, close_db, init_db
from storeplane.stores.models import Store, StoreStatus
from tests.app.database_helpers import create_store, make_settings, open_database

TABLES = {"store", "store_event", "audit_entry", "session", "sign_in_code", "tortoise_migrations"}
PARTIAL_INDEXES = {"uniq_store_live_name", "uniq_store_live_namespace"}
MIGRATIONS = [
    "0001_initial",
    "0002_live_unique_indexes",
    "0003_store_owner_order_index",
    "0004_sessions_and_sign_in_codes",
    "0005_store_event_key",
]


def schema(path: str) -> dict[str, set[str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT type, name FROM sqlite_master").fetchall()
    found: dict[str, set[str]] = {}
    for kind, name in rows:
        found.setdefault(kind, set()).add(name)
    return found


def applied(path: str) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM tortoise_migrations ORDER BY id")]


async def test_init_db_creates_every_table_and_the_partial_unique_indexes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_database(settings):
        pass
    found = schema(sqlite_path(settings.database_url))
    assert found["table"] >= TABLES
    assert found["index"] >= PARTIAL_INDEXES
    with sqlite3.connect(sqlite_path(settings.database_url)) as connection:
        (sql,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'uniq_store_live_name'"
        ).fetchone()
    assert "WHERE status <> 'Deleted'" in sql
    assert applied(sqlite_path(settings.database_url)) == MIGRATIONS


async def test_init_db_is_idempotent_on_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_database(settings):
        await create_store("shop")
    async with open_database(settings):
        assert await Store.filter(name="shop").count() == 1
    assert applied(sqlite_path(settings.database_url)) == MIGRATIONS


async def test_sqlite_runs_in_wal_mode_with_the_connection_pragmas(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_busy_timeout_ms=1234)
    path = Path(sqlite_path(settings.database_url))
    async with open_database(settings):
        connection = get_connection("default")
        pragmas = {}
        for pragma in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
            rows = await connection.execute_query_dict(f"PRAGMA {pragma}")
            pragmas[pragma] = next(iter(rows[0].values()))
        await create_store("shop")
        # The write-ahead log exists while a connection has written and not yet checkpointed on close.
        assert path.with_name(path.name + "-wal").exists()
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 1234}


async def test_live_store_names_are_unique_but_a_deleted_name_can_be_reused(tmp_path: Path) -> None:
    async with open_database(make_settings(tmp_path)):
        first = await create_store("shop")
        with pytest.raises(IntegrityError):
            await create_store("shop", owner="bob")
        first.status = StoreStatus.DELETED
        await first.save()
        second = await create_store("shop", owner="bob")
        assert second.id != first.id
        assert await Store.filter(name="shop").count() == 2


async def test_idempotency_keys_are_unique_per_owner_only_when_set(tmp_path: Path) -> None:
    async with open_database(make_settings(tmp_path)):
        for name, owner, key in [
            ("a", "alice", None),
            ("b", "alice", None),
            ("c", "alice", "k1"),
            ("d", "bob", "k1"),
        ]:
            await Store.create(
                name=name,
                engine="woocommerce",
                namespace=f"store-{name}",
                helm_release=name,
                owner=owner,
                idempotency_key=key,
            )
        with pytest.raises(IntegrityError):
            await Store.create(
                name="e",
                engine="woocommerce",
                namespace="store-e",
                helm_release="e",
                owner="alice",
                idempotency_key="k1",
            )


async def test_store_ids_are_short_label_safe_strings(tmp_path: Path) -> None:
    async with open_database(make_settings(tmp_path)):
        store = await create_store("shop")
    assert store.id.startswith("st-")
    assert len(store.id) == 15
    assert store.id.replace("-", "").isalnum()
    assert store.id == store.id.lower()


async def test_init_db_twice_without_close_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_database(settings):
        with pytest.raises(DatabaseError):
            await init_db(settings)
    await close_db()  # harmless when already closed


async def test_a_page_of_an_owners_stores_is_read_in_index_order_without_sorting(tmp_path: Path) -> None:
    # The `stores` list's query (StoreService.list_stores): without the (owner, created_at, id) index of
    # migration 0003, SQLite sorts every store of the owner to return the first page.
    settings = make_settings(tmp_path)
    async with open_database(settings):
        page = Store.filter(owner="alice").exclude(status=StoreStatus.DELETED).order_by("created_at", "id")
        sql = page.limit(51).sql(params_inline=True)
    with sqlite3.connect(sqlite_path(settings.database_url)) as connection:
        plan = " / ".join(str(row[3]) for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "TEMP B-TREE" not in plan, plan
    assert "(owner=?)" in plan, plan
