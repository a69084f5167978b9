from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.app.server_helpers import RunningServer, run_server, token_settings


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text("<!doctype html><title>dashboard</title>")
    (folder / "assets" / "app-1234.js").write_text("console.log('app')")
    (folder / "favicon.svg").write_text("<svg/>")
    return folder


@pytest.fixture
async def server(tmp_path: Path, dist: Path) -> AsyncIterator[RunningServer]:
    settings = token_settings(tmp_path)
    async with run_server(settings, web_dist=dist) as running:
        yield running
