"""One-time sign-in links: printed by `storeplane sign-in-link`, redeemed once, only from a navigation the
browser started itself; a cross-site one gets a confirmation page, not a cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from storeplane.auth.sessions import SESSION_COOKIE
from storeplane.auth.sign_in_codes import SignInCodes
from storeplane.settings import Settings, parse_api_tokens
from tests.app.auth.auth_helpers import cookie_header, session_cookie
from tests.app.cli_helpers import storeplane
from tests.app.server_helpers import API_TOKENS, RunningServer, run_server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", api_tokens=parse_api_tokens(API_TOKENS), signin_failures_per_minute=5
    )


@pytest.fixture
async def server(settings: Settings, dist: Path) -> AsyncIterator[RunningServer]:
    async with run_server(settings, web_dist=dist) as running:
        yield running


async def sign_in_link(settings: Settings, *args: str) -> tuple[int, str, str]:
    """Run `storeplane sign-in-link` as a person would, on the server's database."""
    variables = {
        "STOREPLANE_DATA_DIR": str(settings.data_dir),
        "STOREPLANE_API_TOKENS": API_TOKENS,
        "STOREPLANE_PORT": "8123",
    }
    result = await storeplane("sign-in-link", *args, home=settings.data_dir, variables=variables)
    return result.returncode, result.stdout, result.stderr


def code_of(link: str) -> str:
    return parse_qs(urlsplit(link.strip()).query)["code"][0]


async def open_link(
    server: RunningServer, http: aiohttp.ClientSession, code: str, fetch_site: str | None
) -> aiohttp.ClientResponse:
    headers = {} if fetch_site is None else {"Sec-Fetch-Site": fetch_site}
    async with http.get(
        f"{server.url}/auth/link", params={"code": code}, headers=headers, allow_redirects=False
    ) as response:
        await response.read()
        return response


async def test_a_link_signs_in_once_and_only_from_a_navigation_the_browser_started(
    server: RunningServer, settings: Settings, http: aiohttp.ClientSession
) -> None:
    status, out, err = await sign_in_link(settings, "--owner", "alice")
    assert status == 0, err
    assert out.startswith("http://127.0.0.1:8123/auth/link?code=")
    assert "valid once, for 300 s" in err
    code = code_of(out)

    cross_site = await open_link(server, http, code, "cross-site")
    assert cross_site.status == 200
    assert SESSION_COOKIE not in session_cookie(cross_site)
    assert cross_site.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in cross_site.headers["Content-Security-Policy"]

    signed_in = await open_link(server, http, code, "none")
    assert (signed_in.status, signed_in.headers["Location"]) == (303, "/")
    cookie = session_cookie(signed_in)[SESSION_COOKIE].value
    async with http.get(f"{server.url}/auth/session", headers=cookie_header(cookie)) as response:
        assert response.status == 200
        assert (await response.json())["owner"] == "alice"
    async with http.post(
        f"{server.url}/graphql",
        json={"query": "{ mySessions { signedInWith current } }"},
        headers=cookie_header(cookie),
    ) as response:
        body = await response.json()
    assert body["data"]["mySessions"] == [{"signedInWith": "sign-in link", "current": True}]

    again = await open_link(server, http, code, "none")
    assert (again.status, again.headers["Location"]) == (303, "/signin?error=invalid-link")
    assert SESSION_COOKIE not in session_cookie(again)


async def test_a_cross_site_link_needs_a_confirmation_posted_from_our_own_page(
    server: RunningServer, settings: Settings, http: aiohttp.ClientSession
) -> None:
    code = code_of((await sign_in_link(settings, "--owner", "bob"))[1])
    page = await open_link(server, http, code, None)  # an old browser says nothing: asked too
    assert page.status == 200
    async with http.post(
        f"{server.url}/auth/link", data={"code": code}, headers={"Origin": "http://evil.example"}
    ) as response:
        assert response.status == 403
        assert SESSION_COOKIE not in session_cookie(response)
    async with http.post(
        f"{server.url}/auth/link", data={"code": code}, headers={"Origin": server.url}, allow_redirects=False
    ) as response:
        assert (response.status, response.headers["Location"]) == (303, "/")
        assert session_cookie(response)[SESSION_COOKIE].value


async def test_an_expired_or_unknown_code_signs_nobody_in_and_repeated_failures_are_throttled(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    expired = await SignInCodes(ttl_seconds=300, clock=lambda: an_hour_ago).mint(owner="alice", role="owner")
    for code in (expired, "x" * 32, "not a code", "é" * 40):
        response = await open_link(server, http, code, "none")
        assert (response.status, response.headers["Location"]) == (303, "/signin?error=invalid-link")
        assert SESSION_COOKIE not in session_cookie(response)
    # The fifth failure in a minute (the limit in these settings): then even a good token waits.
    async with http.post(f"{server.url}/auth/session", json={"token": "wrong-token-0123456789"}) as response:
        assert response.status == 401
    async with http.post(f"{server.url}/auth/session", json={"token": "alice-token-0123456789"}) as response:
        assert response.status == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 60
    fresh = await SignInCodes(ttl_seconds=300).mint(owner="alice", role="owner")
    throttled = await open_link(server, http, fresh, "none")
    assert (throttled.status, throttled.headers["Location"]) == (303, "/signin?error=throttled")
    assert SESSION_COOKIE not in session_cookie(throttled)


async def test_the_database_holds_no_code_and_no_cookie(
    server: RunningServer, settings: Settings, http: aiohttp.ClientSession
) -> None:
    code = code_of((await sign_in_link(settings, "--owner", "alice"))[1])
    cookie = session_cookie(await open_link(server, http, code, "same-origin"))[SESSION_COOKIE].value
    files = list(settings.data_dir.glob("storeplane.sqlite3*"))
    assert files
    for file in files:
        content = file.read_bytes()
        assert code.encode() not in content
        assert cookie.encode() not in content


async def test_the_command_names_the_owners_when_it_cannot_tell_whose_link_to_print(
    settings: Settings,
) -> None:
    status, out, err = await sign_in_link(settings)
    assert (status, out) == (2, "")
    assert err.strip() == "storeplane: --owner is needed: the owners in STOREPLANE_API_TOKENS are alice, bob"
    status, out, err = await sign_in_link(settings, "--owner", "mallory")
    assert (status, out) == (2, "")
    assert "no token is for owner 'mallory'" in err
    assert "Traceback" not in err
