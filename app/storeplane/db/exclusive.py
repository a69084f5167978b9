"""One active server per database: a second one would resume the same stores and fight the first.

SQLite: an exclusive `flock` on `<database>.lock`, which holds the holder's pid; the kernel releases it when
the process ends, however it ends. PostgreSQL: a session advisory lock held on a connection of its own, named
(`application_name`) after the holder's host and pid; a watchdog checks that connection, and losing it (the
lock then goes to whoever asks next) calls `on_lost` at once, which stops the server. Replicas with leader
election will replace this guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from storeplane.db.config import sqlite_path
from storeplane.settings import Settings
from storeplane.tasks import TaskKind, start_task, stop_tasks
from storeplane.urls import public_url

log = logging.getLogger(__name__)

# pg_advisory_lock's key space is shared by every application of the database: ours is "Storepla" in ASCII.
ADVISORY_KEY = 0x53746F7265706C61
WATCHDOG_INTERVAL_SECONDS = 5.0
WATCHDOG_TIMEOUT_SECONDS = 5.0
_CONNECT_TIMEOUT_SECONDS = 10.0


class AnotherServerRunning(RuntimeError):
    """Another server holds the database; `sentence` says which and what to do."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def lock_file(settings: Settings) -> Path:
    return Path(sqlite_path(settings.database_url) + ".lock")


def holder_name() -> str:
    return f"storeplane pid {os.getpid()} on {socket.gethostname()}"


@contextlib.asynccontextmanager
async def exclusive_server(
    settings: Settings, *, on_lost: Callable[[], None], watchdog_interval: float = WATCHDOG_INTERVAL_SECONDS
) -> AsyncIterator[None]:
    """Hold the database for this server until the block ends; raise AnotherServerRunning if it is held."""
    if settings.is_sqlite:
        if sqlite_path(settings.database_url) == ":memory:":
            yield  # a private database: nobody else can open it
            return
        descriptor = await asyncio.to_thread(_lock_sqlite, lock_file(settings))
        try:
            yield
        finally:
            os.close(descriptor)  # releases the flock
        return
    async with _postgres_lock(settings, on_lost=on_lost, interval=watchdog_interval):
        yield


async def check_free(settings: Settings) -> None:
    """Raise AnotherServerRunning when a server holds the database now (the lock is not kept)."""
    async with exclusive_server(settings, on_lost=lambda: None):
        pass


def _lock_sqlite(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 256, 0).decode(errors="replace").strip() or "another process"
        os.close(descriptor)
        raise AnotherServerRunning(
            f"{holder} already serves the database {path.with_suffix('')} (it holds {path}): stop it first, "
            "or give this one its own STOREPLANE_DATA_DIR"
        ) from None
    except BaseException:
        os.close(descriptor)
        raise
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{holder_name()}\n".encode(), 0)
    return descriptor


@contextlib.asynccontextmanager
async def _postgres_lock(
    settings: Settings, *, on_lost: Callable[[], None], interval: float
) -> AsyncIterator[None]:
    import asyncpg

    connection = await asyncpg.connect(
        settings.database_url,
        timeout=_CONNECT_TIMEOUT_SECONDS,
        server_settings={"application_name": holder_name()[:63]},
    )
    try:
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_KEY):
            holder = await connection.fetchval(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 LIMIT 1",
                ADVISORY_KEY,
            )
            where = public_url(settings.database_url)
            raise AnotherServerRunning(
                f"{holder or 'another server'} already serves the database {where} (it holds Storeplane's "
                "advisory lock): stop it first, or give this one its own database"
            )
        watchdog = start_task(_watch(connection, on_lost, interval), kind=TaskKind.DATABASE_LOCK)
        try:
            yield
        finally:
            await stop_tasks([watchdog])
    finally:
        # Closing the session releases the advisory lock.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), timeout=WATCHDOG_TIMEOUT_SECONDS)


async def _watch(connection: Any, on_lost: Callable[[], None], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            async with asyncio.timeout(WATCHDOG_TIMEOUT_SECONDS):
                await connection.fetchval("SELECT 1")
        except Exception:
            log.critical("lost the connection holding the database lock: stopping (another server may start)")
            on_lost()
            return
