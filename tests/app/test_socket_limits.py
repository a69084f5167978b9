"""Open websockets are capped per client address and per owner (close 1008 with a reason), and the server's
concurrency limit counts them (503 beyond it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.app.server_helpers import (
    ALICE_TOKEN,
    BOB_TOKEN,
    RunningServer,
    receive,
    run_server,
    send,
    token_settings,
)

PROTOCOL = "graphql-transport-ws"


@contextlib.asynccontextmanager
async def server_with(tmp_path: Path, **limits: Any) -> AsyncIterator[RunningServer]:
    settings = token_settings(tmp_path, **limits)
    async with run_server(settings) as server:
        yield server


async def acked(server: RunningServer, token: str) -> ClientConnection:
    ws = await connect(server.ws_url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
    await send(ws, {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    assert (await receive(ws))["type"] == "connection_ack"
    return ws


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_sockets_past_the_owners_cap_are_closed_and_another_owner_is_not_affected(
    tmp_path: Path,
) -> None:
    async with server_with(tmp_path, ws_max_per_owner=2) as server, contextlib.AsyncExitStack() as stack:
        for _ in range(2):
            stack.push_async_callback((await acked(server, ALICE_TOKEN)).close)
        third = await connect(server.ws_url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        stack.push_async_callback(third.close)
        await send(third, {"type": "connection_init", "payload": {"Authorization": f"Bearer {ALICE_TOKEN}"}})
        assert await closed_with(third) == (1008, "too many websockets for this owner")
        stack.push_async_callback((await acked(server, BOB_TOKEN)).close)


async def test_a_closed_socket_frees_its_place(tmp_path: Path) -> None:
    async with server_with(tmp_path, ws_max_per_owner=1) as server:
        first = await acked(server, ALICE_TOKEN)
        await first.close()
        second = await acked(server, ALICE_TOKEN)
        await second.close()


async def test_sockets_past_the_addresss_cap_are_closed_before_authentication(tmp_path: Path) -> None:
    async with server_with(tmp_path, ws_max_per_address=2) as server, contextlib.AsyncExitStack() as stack:
        for _ in range(2):
            stack.push_async_callback(
                (await connect(server.ws_url, subprotocols=[PROTOCOL])).close  # type: ignore[list-item]
            )
        third = await connect(server.ws_url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        stack.push_async_callback(third.close)
        assert await closed_with(third) == (1008, "too many websockets from this address")


async def test_open_websockets_count_in_the_concurrency_limit(tmp_path: Path) -> None:
    async with (
        server_with(tmp_path, http_limit_concurrency=3) as server,
        contextlib.AsyncExitStack() as stack,
        aiohttp.ClientSession() as http,
    ):
        for _ in range(3):
            stack.push_async_callback((await acked(server, ALICE_TOKEN)).close)
        async with http.get(f"{server.url}/healthz") as response:
            assert response.status == 503
