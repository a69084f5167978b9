"""Open the database on start (migrations first), close it on shutdown."""

from __future__ import annotations

import logging
from pathlib import Path

from tortoise.backends.base import executor as tortoise_executor
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate

from storeplane.db.config import sqlite_path, tortoise_config
from storeplane.settings import Settings

log = logging.getLogger(__name__)

# The one context the process queries through; set by init_db, cleared by close_db.
_context: TortoiseContext | None = None


class DatabaseError(RuntimeError):
    """The database could not be opened as Storeplane needs it."""


async def init_db(settings: Settings) -> None:
    """Apply pending migrations, then open the connection every model query uses.

    The context is registered as Tortoise's global fallback rather than in a context variable, because the
    lifespan task that calls this is not the parent of the tasks that serve requests.
    """
    global _context
    if _context is not None:
        raise DatabaseError("init_db called twice without close_db")
    config = tortoise_config(settings)
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    # migrate() initialises Tortoise itself and opens its own connection. Running it inside a context of its
    # own keeps that connection out of the process-wide one and closes it when the migrations are done.
    async with TortoiseContext():
        await migrate(config=config, progress=_log_progress)

    # Tortoise caches each model's INSERT/DELETE SQL process-wide, keyed by connection name but not dialect:
    # after an earlier init on another backend (tests switch between SQLite and PostgreSQL) the stale SQL
    # would be reused. Emptying the cache costs one rebuild per model.
    tortoise_executor.EXECUTOR_CACHE.clear()
    context = TortoiseContext()
    # init() resolves connections through the current context, so it is made current only for the call.
    with context:
        await context.init(config=config, _enable_global_fallback=True)
    _context = context
    try:
        if settings.is_sqlite:
            await _check_sqlite()
    except BaseException:
        await close_db()
        raise
    log.info("database ready (%s)", "sqlite" if settings.is_sqlite else "postgresql")


async def close_db() -> None:
    """Close the connections opened by init_db; safe to call when it never ran."""
    global _context
    context, _context = _context, None
    if context is not None:
        await context.close_connections()


async def _check_sqlite() -> None:
    # The pragmas are applied by Tortoise's SQLite client on connect (see config.py); journal_mode is the one
    # that can silently not take effect (an in-memory database, or a filesystem without shared memory).
    rows = await get_connection("default").execute_query_dict("PRAGMA journal_mode")
    mode = str(rows[0]["journal_mode"]).lower()
    if mode not in {"wal", "memory"}:
        raise DatabaseError(
            f"SQLite stayed in journal_mode={mode} instead of WAL: put the data folder on a local filesystem"
        )


def _log_progress(event: str, app_label: str, name: str) -> None:
    if event == "apply_done":
        log.info("applied migration %s.%s", app_label, name)
