"""Server-side sessions: listed and revoked through the API, ended by sign-out and by removing their token;
a revoked session's cookie stops working at once, on HTTP, on new websockets and on open ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from storeplane.settings import Settings, parse_api_tokens
from tests.app.auth.auth_helpers import cookie_header, sign_in
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
MY_SESSIONS = "{ mySessions { id role signedInWith current userAgent clientAddress createdAt expiresAt } }"
REVOKE = (
    "mutation($id: ID!) { revokeSession(id: $id) { __typename "
    "... on RevokeSessionSuccess { id } ... on NotFound { id message } } }"
)


async def with_cookie(
    server: RunningServer, http: aiohttp.ClientSession, cookie: str, query: str, **variables: Any
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={**cookie_header(cookie), "User-Agent": "test-browser/1.0"},
    ) as response:
        return response.status, await response.json()


async def subscribed_socket(server: RunningServer, cookie: str) -> ClientConnection:
    headers = {**cookie_header(cookie), "Origin": server.url}
    ws = await connect(server.ws_url, subprotocols=[PROTOCOL], additional_headers=headers)  # type: ignore[list-item]
    await send(ws, {"type": "connection_init"})
    assert (await receive(ws))["type"] == "connection_ack"
    await send(
        ws, {"id": "1", "type": "subscribe", "payload": {"query": "subscription { storeChanged { id } }"}}
    )
    return ws


async def test_sessions_are_listed_and_one_revoked_stops_working_everywhere(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    laptop, phone = await sign_in(server, http), await sign_in(server, http)
    bobs = await sign_in(server, http, BOB_TOKEN)
    status, body = await with_cookie(server, http, laptop, MY_SESSIONS)
    assert status == 200, body
    sessions = body["data"]["mySessions"]
    assert len(sessions) == 2  # bob's is not alice's to see
    assert [s["current"] for s in sessions].count(True) == 1
    assert {s["role"] for s in sessions} == {"owner"}
    assert all(s["signedInWith"].startswith("token sha256:") for s in sessions)
    assert ALICE_TOKEN not in str(body)
    assert all(s["clientAddress"] == "127.0.0.1" for s in sessions)
    phone_id = next(s["id"] for s in sessions if not s["current"])

    open_socket = await subscribed_socket(server, phone)
    laptop_socket = await subscribed_socket(server, laptop)
    try:
        status, body = await with_cookie(server, http, laptop, REVOKE, id=phone_id)
        assert body["data"]["revokeSession"] == {"__typename": "RevokeSessionSuccess", "id": phone_id}
        # The phone's open websocket is closed, as signed out; the laptop's stays.
        with pytest.raises(ConnectionClosed) as closed:
            await receive(open_socket)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "session revoked")
        await send(laptop_socket, {"type": "ping"})
        assert (await receive(laptop_socket))["type"] == "pong"
    finally:
        await open_socket.close()
        await laptop_socket.close()

    status, _ = await with_cookie(server, http, phone, "{ engines { key } }")
    assert status == 401
    async with connect(
        server.ws_url,
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        additional_headers={**cookie_header(phone), "Origin": server.url},
    ) as ws:
        await send(ws, {"type": "connection_init"})
        with pytest.raises(ConnectionClosed) as refused:
            await receive(ws)
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code == 4403

    # Nobody revokes what is not theirs, or what does not exist; a malformed id is just unknown.
    bobs_id = (await with_cookie(server, http, bobs, MY_SESSIONS))[1]["data"]["mySessions"][0]["id"]
    for unknown in (bobs_id, phone_id, "0" * 32, "not-an-id", "x" * 10_000):
        _, body = await with_cookie(server, http, laptop, REVOKE, id=unknown)
        assert body["data"]["revokeSession"]["__typename"] == "NotFound", unknown
    assert (await with_cookie(server, http, bobs, "{ engines { key } }"))[0] == 200


async def test_a_bearer_token_caller_manages_the_owners_sessions_too(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    cookie = await sign_in(server, http)
    _, body = await server.graphql(http, MY_SESSIONS)
    [session] = body["data"]["mySessions"]
    assert session["current"] is False  # a token call is no session
    _, body = await server.graphql(http, REVOKE, {"id": session["id"]})
    assert body["data"]["revokeSession"]["__typename"] == "RevokeSessionSuccess"
    assert (await with_cookie(server, http, cookie, "{ engines { key } }"))[0] == 401


async def test_sign_out_revokes_the_session_on_the_server(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    cookie = await sign_in(server, http)
    async with http.post(f"{server.url}/auth/signout", headers=cookie_header(cookie)) as response:
        assert response.status == 204
    # A copy of the cookie (another tab's, a stolen one) is no good either.
    assert (await with_cookie(server, http, cookie, "{ engines { key } }"))[0] == 401
    _, body = await server.graphql(http, MY_SESSIONS)
    assert body["data"]["mySessions"] == []


async def test_removing_a_token_from_the_settings_ends_the_sessions_signed_in_with_it(
    tmp_path: Path, dist: Path
) -> None:
    before = token_settings(tmp_path)
    rotated = "alice-new-token-0123456789"
    after = Settings(
        data_dir=tmp_path / "data", api_tokens=parse_api_tokens(f"{rotated}:alice,{BOB_TOKEN}:bob")
    )
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with run_server(before, web_dist=dist) as first:
            alices, bobs = await sign_in(first, http), await sign_in(first, http, BOB_TOKEN)
        async with run_server(after, web_dist=dist) as second:
            assert (await with_cookie(second, http, alices, "{ engines { key } }"))[0] == 401
            assert (await with_cookie(second, http, bobs, "{ engines { key } }"))[0] == 200
