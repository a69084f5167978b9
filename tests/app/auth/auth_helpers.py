"""Signing in to a running server the way the dashboard does, and reading the cookie it sets."""

from __future__ import annotations

from http.cookies import SimpleCookie

import aiohttp

from storeplane.auth.sessions import SESSION_COOKIE
from tests.app.server_helpers import ALICE_TOKEN, RunningServer


def session_cookie(response: aiohttp.ClientResponse) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        cookie.load(header)
    return cookie


async def sign_in(server: RunningServer, http: aiohttp.ClientSession, token: str = ALICE_TOKEN) -> str:
    """A session cookie's value, from the sign-in page's token form."""
    async with http.post(f"{server.url}/auth/session", json={"token": token}) as response:
        assert response.status == 204, await response.text()
        return session_cookie(response)[SESSION_COOKIE].value


def cookie_header(value: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={value}"}
