"""The dashboard's sign-in with a pasted token: a session cookie that authenticates GraphQL over HTTP and
websockets; the retired token-in-URL sign-in; the bundle served with a single-page fallback."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from storeplane.auth.sessions import SESSION_COOKIE
from tests.app.auth.auth_helpers import session_cookie, sign_in
from tests.app.server_helpers import (
    ALICE_TOKEN,
    RunningServer,
    receive,
    run_server,
    send,
    token_settings,
)

PROTOCOL = "graphql-transport-ws"
CREATE = (
    'mutation { createStore(input: {name: "shop", engine: "woocommerce"}) '
    "{ __typename ... on CreateStoreSuccess { store { id owner } } } }"
)


async def test_the_retired_sign_in_url_is_not_honoured_and_the_token_is_not_looked_at(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for token in (ALICE_TOKEN, "not-a-real-token-at-all"):
        async with http.get(f"{server.url}/", params={"token": token}, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/signin?error=token-in-url"
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            assert SESSION_COOKIE not in session_cookie(response)


async def test_a_pasted_token_sets_a_strict_http_only_cookie_that_does_not_contain_it(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{server.url}/auth/session", json={"token": ALICE_TOKEN}) as response:
        assert response.status == 204
        assert response.headers["Cache-Control"] == "no-store"
        morsel = session_cookie(response)[SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/"
    assert morsel["secure"] == ""  # plain http without a https public URL
    assert int(morsel["max-age"]) == 7 * 24 * 3600
    assert ALICE_TOKEN not in morsel.value
    assert ALICE_TOKEN not in str(dict(response.headers))


async def test_the_session_cookie_authenticates_graphql_over_http(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    cookie = await sign_in(server, http)
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    async with http.post(f"{server.url}/graphql", json={"query": CREATE}, headers=headers) as response:
        assert response.status == 200
        body = await response.json()
    assert body["data"]["createStore"]["store"]["owner"] == "alice"
    async with http.get(f"{server.url}/auth/session", headers=headers) as response:
        assert response.status == 200
        body = await response.json()
    assert (body["owner"], body["role"]) == ("alice", "owner")
    assert len(body["sessionId"]) == 32


async def test_the_session_cookie_authenticates_the_websocket_handshake(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    cookie = await sign_in(server, http)
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": server.url}
    async with connect(server.ws_url, subprotocols=[PROTOCOL], additional_headers=headers) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "connection_init"})
        assert (await receive(ws))["type"] == "connection_ack"
        await send(
            ws,
            {"id": "1", "type": "subscribe", "payload": {"query": "subscription { storeChanged { owner } }"}},
        )
        async with http.post(
            f"{server.url}/graphql", json={"query": CREATE}, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
        ) as response:
            assert response.status == 200
        message = await receive(ws)
        assert message["type"] == "next"
        assert message["payload"]["data"]["storeChanged"]["owner"] == "alice"


async def test_a_bad_token_or_a_forged_cookie_is_refused(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{server.url}/auth/session", data={"token": "not-a-real-token-at-all"}, allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/signin?error=invalid-token"
        assert SESSION_COOKIE not in session_cookie(response)
    async with http.post(f"{server.url}/auth/session", json={"token": "not-a-real-token-at-all"}) as response:
        assert response.status == 401
        assert SESSION_COOKIE not in session_cookie(response)
    cookie = await sign_in(server, http)
    forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
    headers = {"Cookie": f"{SESSION_COOKIE}={forged}"}
    async with http.post(
        f"{server.url}/graphql", json={"query": "{ engines { key } }"}, headers=headers
    ) as response:
        assert response.status == 401
    async with http.get(f"{server.url}/auth/session", headers=headers) as response:
        assert response.status == 401
    async with connect(server.ws_url, subprotocols=[PROTOCOL], additional_headers=headers) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "connection_init"})
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


async def test_a_cross_site_websocket_handshake_is_refused(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    cookie = await sign_in(server, http)
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": "http://evil.example"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url, subprotocols=[PROTOCOL], additional_headers=headers):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 403


async def test_the_sign_in_page_posts_a_pasted_token_and_sign_out_clears_the_cookie(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{server.url}/auth/session", json={"token": f" {ALICE_TOKEN}\n"}, headers={"Origin": server.url}
    ) as response:
        assert response.status == 204
        morsel = session_cookie(response)[SESSION_COOKIE]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "strict"
    async with http.post(
        f"{server.url}/auth/session", data={"token": ALICE_TOKEN}, allow_redirects=False
    ) as response:
        assert (response.status, response.headers["Location"]) == (303, "/")
        assert session_cookie(response)[SESSION_COOKIE].value
    async with http.post(
        f"{server.url}/auth/signout", headers={"Cookie": f"{SESSION_COOKIE}={morsel.value}"}
    ) as response:
        assert response.status == 204
        cleared = session_cookie(response)[SESSION_COOKIE]
    assert cleared.value == ""
    assert cleared["max-age"] == "0"


async def test_a_session_survives_a_restart_on_the_same_data_folder(tmp_path: Path, dist: Path) -> None:
    settings = token_settings(tmp_path)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with run_server(settings, web_dist=dist) as first:
            cookie = await sign_in(first, http)
        async with run_server(settings, web_dist=dist) as second:
            headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
            async with http.get(f"{second.url}/auth/session", headers=headers) as response:
                assert response.status == 200


async def test_the_bundle_is_served_with_index_html_for_client_routes(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for path in ("/", "/stores/123", "/signin"):
        async with http.get(f"{server.url}{path}") as response:
            assert response.status == 200, path
            assert "dashboard" in await response.text()
            assert response.headers["Cache-Control"] == "no-cache"
    async with http.get(f"{server.url}/assets/app-1234.js") as response:
        assert response.status == 200
        assert "immutable" in response.headers["Cache-Control"]
    async with http.get(f"{server.url}/favicon.svg") as response:
        assert response.status == 200
    async with http.get(f"{server.url}/assets/missing.js") as response:
        assert response.status == 404
    async with http.get(f"{server.url}/../../etc/passwd") as response:
        assert "root:" not in await response.text()
    async with http.get(f"{server.url}/healthz") as response:
        assert await response.json() == {"status": "ok"}
    async with http.post(f"{server.url}/graphql", json={"query": "{ engines { key } }"}) as response:
        assert response.status == 401


async def test_without_a_bundle_the_root_explains_how_to_build_it(tmp_path: Path) -> None:
    settings = token_settings(tmp_path)
    async with (
        run_server(settings, web_dist=tmp_path / "missing") as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/") as response,
    ):
        assert response.status == 503
        assert "npm run build" in await response.text()
