from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storeplane.settings import Settings
from tests.app.server_helpers import API_TOKENS, RunningServer, run_server

MAX_DEPTH = 4


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningServer]:
    """A real uvicorn server with its own data folder; tokens come from STOREPLANE_API_TOKENS."""
    monkeypatch.setenv("STOREPLANE_API_TOKENS", API_TOKENS)
    monkeypatch.setenv("STOREPLANE_GRAPHQL_MAX_DEPTH", str(MAX_DEPTH))
    async with run_server(Settings(data_dir=tmp_path / "data")) as running:
        yield running
