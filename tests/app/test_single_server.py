"""One active server per database: a second `storeplane serve` on the same SQLite file exits 2 naming the
first; the lock goes with the process that held it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from storeplane.db.exclusive import AnotherServerRunning, check_free, exclusive_server, lock_file
from tests.app.cli_helpers import storeplane
from tests.app.server_helpers import API_TOKENS, run_server, token_settings


async def serve(tmp_path: Path) -> tuple[int, str]:
    """`storeplane serve` as a person starts it, on port 0; its exit status and what it printed."""
    variables = {"STOREPLANE_API_TOKENS": API_TOKENS, "STOREPLANE_DATA_DIR": str(tmp_path / "data")}
    result = await storeplane("serve", "--port", "0", home=tmp_path, variables=variables)
    return result.returncode, result.stderr


async def test_a_second_server_on_the_same_sqlite_exits_2_naming_the_first(tmp_path: Path) -> None:
    async with run_server(token_settings(tmp_path)):
        status, printed = await serve(tmp_path)
    assert status == 2, printed
    assert "Traceback" not in printed
    expected = (
        f"storeplane: storeplane pid {os.getpid()} on {socket.gethostname()} already serves the database"
    )
    assert printed.startswith(expected), printed
    assert printed.strip().endswith("stop it first, or give this one its own STOREPLANE_DATA_DIR")
    assert len(printed.strip().splitlines()) == 1


async def test_the_lock_is_held_while_a_server_runs_and_free_after(tmp_path: Path) -> None:
    settings = token_settings(tmp_path)
    async with run_server(settings):
        with pytest.raises(AnotherServerRunning):
            await check_free(settings)
        assert oct(lock_file(settings).stat().st_mode & 0o777) == "0o600"
    await check_free(settings)  # released on stop
    async with exclusive_server(settings, on_lost=lambda: None):
        with pytest.raises(AnotherServerRunning, match=f"pid {os.getpid()}"):
            async with exclusive_server(settings, on_lost=lambda: None):
                pass
