"""The same migrations and event ordering on a real PostgreSQL server: a throwaway cluster in a temp folder.

Needs the server binaries (initdb, pg_ctl: Debian's `postgresql` package). `scripts/test` installs them
and sets REQUIRE_POSTGRES_TESTS=1, under which their absence fails the run; a bare `pytest` skips, saying so.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tortoise.exceptions import IntegrityError

from storeplane.db.exclusive import AnotherServerRunning, check_free, exclusive_server
from storeplane.events.models import EventSource, EventType, StoreEvent
from storeplane.events.writer import EventWriter, StoreEventDraft
from storeplane.settings import Settings
from storeplane.stores.models import Store, StoreStatus
from tests.app.cli_helpers import storeplane
from tests.app.database_helpers import create_store, open_database

_databases = itertools.count()


def _server_binary(name: str) -> str | None:
    # Debian keeps them out of PATH, in /usr/lib/postgresql/<version>/bin.
    return shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        missing = "PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install postgresql"
        if os.environ.get("REQUIRE_POSTGRES_TESTS") == "1":
            pytest.fail(missing)  # the project's test command: PostgreSQL support must really be tested
        pytest.skip(f"{missing} (scripts/test installs them and never skips this)")
    root = Path(tempfile.mkdtemp(prefix="storeplane-pg-"))
    user: int | None = None
    if os.geteuid() == 0:
        # The server refuses to run as root: run it as the postgres (or nobody) account, owning the folder.
        account = pwd.getpwnam("postgres") if _has_account("postgres") else pwd.getpwnam("nobody")
        user = account.pw_uid
        os.chown(root, account.pw_uid, account.pw_gid)
    data, port = root / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=user, timeout=120)

    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    try:
        yield f"postgres://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            user=user,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def _has_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
async def postgres_settings(postgres_server: str, tmp_path: Path) -> Settings:
    """A new, empty database on the module's server for each test."""
    import asyncpg  # type: ignore[import-not-found, unused-ignore]  # optional: only where installed

    name = f"storeplane_{next(_databases)}"
    connection = await asyncpg.connect(f"{postgres_server}/postgres")
    try:
        await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()
    return Settings(data_dir=tmp_path, database_url=f"{postgres_server}/{name}")


async def test_postgres_gets_every_table_and_partial_index_and_restarts_cleanly(
    postgres_settings: Settings,
) -> None:
    for _ in range(2):  # the second start finds everything applied
        async with open_database(postgres_settings):
            connection = Store._meta.db
            tables = {
                row["tablename"]
                for row in await connection.execute_query_dict("SELECT tablename FROM pg_tables")
            }
            indexes = {
                row["indexname"]: row["indexdef"]
                for row in await connection.execute_query_dict("SELECT indexname, indexdef FROM pg_indexes")
            }
            applied = await connection.execute_query_dict("SELECT name FROM tortoise_migrations ORDER BY id")
    assert tables >= {"store", "store_event", "audit_entry", "session", "sign_in_code", "tortoise_migrations"}
    assert "WHERE" in indexes["uniq_store_live_name"]
    assert "Deleted" in indexes["uniq_store_live_namespace"]
    assert [row["name"] for row in applied] == [
        "0001_initial",
        "0002_live_unique_indexes",
        "0003_store_owner_order_index",
        "0004_sessions_and_sign_in_codes",
        "0005_store_event_key",
    ]


async def test_postgres_enforces_unique_live_names(postgres_settings: Settings) -> None:
    async with open_database(postgres_settings):
        first = await create_store("shop")
        with pytest.raises(IntegrityError):
            await create_store("shop", owner="bob")
        first.status = StoreStatus.DELETED
        await first.save()
        await create_store("shop", owner="bob")


async def test_postgres_event_ids_become_visible_in_order(postgres_settings: Settings) -> None:
    async with open_database(postgres_settings) as settings:
        store = await create_store("shop")
        writer = EventWriter(
            queue_size=settings.event_writer_queue_size,
            batch_max=settings.event_writer_batch_max,
            drain_timeout=settings.event_writer_drain_timeout_seconds,
        )
        writer.start()
        done = asyncio.Event()
        seen: list[int] = []

        async def read() -> None:
            cursor = 0
            while True:
                finished = done.is_set()
                ids = [event.id for event in await StoreEvent.filter(id__gt=cursor).order_by("id")]
                assert ids == list(range(cursor + 1, cursor + 1 + len(ids)))
                seen.extend(ids)
                cursor = ids[-1] if ids else cursor
                if finished:
                    return
                await asyncio.sleep(0)

        async def write(n: int) -> None:
            for i in range(20):
                await writer.write(
                    StoreEventDraft(
                        store_id=store.id,
                        type=EventType.NORMAL,
                        reason="Test",
                        message=f"{n}-{i}",
                        source=EventSource.API,
                    )
                )

        reader = asyncio.create_task(read())
        try:
            await asyncio.gather(*(write(n) for n in range(10)))
        finally:
            done.set()
            await reader
            await writer.stop()
    assert seen == list(range(1, 201))


async def test_one_server_per_postgres_database_through_an_advisory_lock(postgres_settings: Settings) -> None:
    import asyncpg  # type: ignore[import-not-found, unused-ignore]  # optional: only where installed

    lost = asyncio.Event()
    async with exclusive_server(postgres_settings, on_lost=lost.set, watchdog_interval=0.2):
        with pytest.raises(
            AnotherServerRunning, match=rf"^storeplane pid {os.getpid()} on .* already serves"
        ):
            await check_free(postgres_settings)
        # The connection holding the lock is cut (a failover, an idle timeout): the holder is told at once,
        # and the lock is free for another server.
        admin = await asyncpg.connect(postgres_settings.database_url)
        try:
            terminated = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name LIKE 'storeplane pid %' AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert terminated == 1
        await asyncio.wait_for(lost.wait(), timeout=10)
        await check_free(postgres_settings)


async def test_a_second_serve_on_the_same_postgres_exits_2_naming_the_first(
    postgres_settings: Settings, tmp_path: Path
) -> None:
    async with exclusive_server(postgres_settings, on_lost=lambda: None):
        variables = {
            "STOREPLANE_API_TOKENS": "postgres-test-token-0123456789:alice",
            "STOREPLANE_DATA_DIR": str(tmp_path / "second"),
            "STOREPLANE_DATABASE_URL": postgres_settings.database_url,
        }
        result = await storeplane("serve", "--port", "0", home=tmp_path, variables=variables)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"storeplane: storeplane pid {os.getpid()} on "), line
    assert "already serves the database postgres://" in line
    assert "advisory lock" in line
