"""Behind a proxy: forwarded headers count only from trusted proxies, and a https public URL makes the session
cookie Secure and adds HSTS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from storeplane.auth.sessions import SESSION_COOKIE
from storeplane.hsts import HSTS_VALUE
from storeplane.settings import Settings
from tests.app.auth.auth_helpers import session_cookie
from tests.app.server_helpers import ALICE_TOKEN, run_server, token_settings

CREATE_AND_AUDIT = (
    'mutation { createStore(input: {name: "shop", engine: "woocommerce"}) { __typename } }',
    "{ auditLog { edges { node { clientAddress } } } }",
)
FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def settings(tmp_path: Path, **extra: Any) -> Settings:
    return token_settings(tmp_path, **extra)


async def audited_address(tmp_path: Path, **extra: Any) -> tuple[str, str]:
    """The audit log's client address of a create sent with forwarded headers; the cookie's Secure flag."""
    async with (
        run_server(settings(tmp_path, **extra)) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        headers = {**FORWARDED, "Authorization": f"Bearer {ALICE_TOKEN}"}
        for query in CREATE_AND_AUDIT:
            async with http.post(f"{server.url}/graphql", json={"query": query}, headers=headers) as response:
                body = await response.json()
        async with http.post(
            f"{server.url}/auth/session", json={"token": ALICE_TOKEN}, headers=FORWARDED
        ) as r:
            secure = session_cookie(r)[SESSION_COOKIE]["secure"]
    return body["data"]["auditLog"]["edges"][0]["node"]["clientAddress"], str(secure)


async def test_by_default_no_forwarded_header_is_believed(tmp_path: Path) -> None:
    assert await audited_address(tmp_path) == ("127.0.0.1", "")


async def test_a_trusted_proxy_sets_the_client_address_and_the_scheme(tmp_path: Path) -> None:
    assert await audited_address(tmp_path, forwarded_allow_ips="127.0.0.1") == ("203.0.113.9", "True")


async def test_a_https_public_url_makes_the_cookie_secure_and_adds_hsts(tmp_path: Path) -> None:
    public = "https://storeplane.example.com"
    async with (
        run_server(settings(tmp_path, public_url=public)) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        # The browser's Origin is the public URL's, not the Host the proxy forwarded to.
        headers = {"Origin": public}
        async with http.post(f"{server.url}/auth/session", json={"token": ALICE_TOKEN}, headers=headers) as r:
            assert r.status == 204
            assert session_cookie(r)[SESSION_COOKIE]["secure"] is True
            assert r.headers["Strict-Transport-Security"] == HSTS_VALUE
        async with http.get(f"{server.url}/healthz") as response:
            assert response.headers["Strict-Transport-Security"] == HSTS_VALUE
        async with http.post(
            f"{server.url}/auth/session",
            json={"token": ALICE_TOKEN},
            headers={"Origin": "https://evil.example"},
        ) as response:
            assert response.status == 403


async def test_plain_http_has_no_hsts(tmp_path: Path) -> None:
    async with (
        run_server(settings(tmp_path)) as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/healthz") as response,
    ):
        assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("public_url", "ftp://example.com", "public_url must be http(s)://HOST[:PORT]"),
        ("public_url", "https://example.com/storeplane", "must not have a path"),
        ("forwarded_allow_ips", "10.0.0.0/8, proxy.internal", "'proxy.internal' is not an IP address"),
    ],
)
def test_deployment_settings_are_checked(tmp_path: Path, field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        settings(tmp_path, **{field: value})
