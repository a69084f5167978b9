"""Nothing that signs anybody in reaches the server's log: tokens, sign-in codes and session cookies, whether
the sign-in worked or not, over HTTP and websockets, in access lines included."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from storeplane.access_log import HIDDEN
from storeplane.auth.sessions import SESSION_COOKIE
from storeplane.auth.sign_in_codes import SignInCodes
from tests.app.auth.auth_helpers import cookie_header, session_cookie
from tests.app.server_helpers import ALICE_TOKEN, BOB_TOKEN, receive, run_server, send, token_settings

WRONG_TOKEN = "wrong-token-0123456789abcdef"


async def test_the_log_holds_no_token_code_or_cookie(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = token_settings(tmp_path)
    secrets: list[str] = [ALICE_TOKEN, BOB_TOKEN, WRONG_TOKEN]
    # The level `storeplane serve` logs at, and everything of our own code down to DEBUG.
    with caplog.at_level(logging.INFO), caplog.at_level(logging.DEBUG, logger="storeplane"):
        async with (
            run_server(settings) as server,
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        ):
            # A failed and a good sign-in with a token; a good and a spent sign-in link.
            async with http.post(f"{server.url}/auth/session", json={"token": WRONG_TOKEN}) as response:
                assert response.status == 401
            async with http.post(f"{server.url}/auth/session", json={"token": ALICE_TOKEN}) as response:
                secrets.append(session_cookie(response)[SESSION_COOKIE].value)
            code = await SignInCodes(ttl_seconds=60).mint(owner="bob", role="owner")
            secrets.append(code)
            for _ in range(2):
                async with http.get(
                    f"{server.url}/auth/link?code={code}",
                    headers={"Sec-Fetch-Site": "none"},
                    allow_redirects=False,
                ) as response:
                    secrets.extend(m.value for m in session_cookie(response).values())
            # API calls with a token, a wrong token, a cookie and a websocket.
            await server.graphql(http, "{ engines { key } }")
            await server.graphql(http, "{ engines { key } }", token=WRONG_TOKEN)
            async with http.post(
                f"{server.url}/graphql",
                json={"query": "{ mySessions { id } }"},
                headers=cookie_header(secrets[3]),
            ) as response:
                assert response.status == 200
            # A token in the websocket's query string too (some clients do that): out of the log as well.
            url = f"{server.ws_url}?token={BOB_TOKEN}"
            async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
                await send(
                    ws, {"type": "connection_init", "payload": {"Authorization": f"Bearer {BOB_TOKEN}"}}
                )
                assert (await receive(ws))["type"] == "connection_ack"
            # The retired sign-in URL, with a real token in it.
            async with http.get(f"{server.url}/?token={ALICE_TOKEN}", allow_redirects=False) as response:
                assert response.status == 303
    logged = "\n".join(
        f"{record.name} {record.getMessage()}"
        for record in caplog.records
        if not record.name.startswith(("websockets.client", "aiohttp"))  # the test's own clients
    )
    assert "POST /auth/session" in logged  # the access log was captured at all
    assert f"GET /auth/link{HIDDEN}" in logged
    assert len(secrets) >= 6
    for secret in secrets:
        assert secret not in logged
