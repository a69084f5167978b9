"""Websocket limits: a late connection_init or an oversized message closes the socket (the spec's codes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from storeplane.settings import Settings, parse_api_tokens
from tests.app.server_helpers import ALICE_TOKEN, API_TOKENS, RunningServer, receive, run_server, send

PROTOCOL = "graphql-transport-ws"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = Settings(
        data_dir=tmp_path / "data",
        api_tokens=parse_api_tokens(API_TOKENS),
        ws_connection_init_timeout_seconds=0.5,
        ws_max_message_bytes=4096,
    )
    async with run_server(settings) as running:
        yield running


async def test_a_websocket_without_connection_init_is_closed_with_4408(server: RunningServer) -> None:
    async with connect(server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        started = asyncio.get_running_loop().time()
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws, timeout=5.0)
        assert asyncio.get_running_loop().time() - started < 3.0
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408


async def test_a_message_over_the_limit_closes_the_websocket_with_1009(server: RunningServer) -> None:
    async with connect(server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"token": ALICE_TOKEN, "pad": "x" * 8192}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_messages_within_the_limits_are_served(server: RunningServer) -> None:
    async with connect(server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "connection_init", "payload": {"token": ALICE_TOKEN}})
        assert (await receive(ws))["type"] == "connection_ack"
        await asyncio.sleep(1.0)  # past the connection_init timeout: an acknowledged socket stays open
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"
