"""GraphiQL at /graphql: the bundle's own page under a same-origin policy, everything it loads served here."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from storeplane.graphql.ide import content_security_policy
from storeplane.web import DEFAULT_DIST
from tests.app.server_helpers import RunningServer, run_server, token_settings

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
# How the built files name each other: "./chunk.js" imports, "assets/x" in Vite's preload lists,
# "/assets/x" for workers and in CSS url().
_ASSET = re.compile(r"""["'`(](?:\./|/?assets/)([\w.-]+\.(?:js|css|ttf|woff2?|svg|png))\b""")
# A script, module, worker or stylesheet fetched from another host (a CDN), however the file asks for it.
_FOREIGN_LOAD = re.compile(
    r"""(?:\bimport\s*\(|\bfrom|\bimportScripts\s*\(|\bnew\s+Worker\s*\(|@import|\burl\()\s*["'`]?(?:https?:)?//"""
)


class _References(HTMLParser):
    """Every `<script src>` and `<link href>` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        value = dict(attrs).get(wanted) if wanted else None
        if value is not None:
            self.found.append(value)


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.found


@asynccontextmanager
async def serving(tmp_path: Path, dist: Path) -> AsyncIterator[RunningServer]:
    settings = token_settings(tmp_path)
    async with run_server(settings, web_dist=dist) as running:
        yield running


@pytest.fixture
def small_bundle(tmp_path: Path) -> Path:
    """A bundle shaped like Vite's: an entry with a chunk, a worker, a stylesheet and its font."""
    dist = tmp_path / "dist"
    assets = dist / "assets"
    assets.mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>dashboard</title>")
    (dist / "favicon.svg").write_text("<svg/>")
    (dist / "graphiql.html").write_text(
        '<!doctype html><title>Storeplane · GraphiQL</title><link rel="icon" href="/favicon.svg">'
        '<script type="module" crossorigin src="/assets/graphiql-1a.js"></script>'
        '<link rel="stylesheet" crossorigin href="/assets/graphiql-2b.css"><div id="graphiql"></div>'
    )
    (assets / "graphiql-1a.js").write_text(
        'import{a}from"./chunk-3c.js";new Worker(`/assets/editor.worker-4d.js`);a("GraphiQL")'
    )
    (assets / "chunk-3c.js").write_text("export const a=(x)=>console.log(x);")
    (assets / "editor.worker-4d.js").write_text("self.onmessage=()=>{};")
    (assets / "graphiql-2b.css").write_text("@font-face{src:url(/assets/codicon-5e.ttf)}")
    (assets / "codicon-5e.ttf").write_bytes(b"\0font")
    return dist


async def fetch_ide(server: RunningServer, http: aiohttp.ClientSession) -> tuple[aiohttp.ClientResponse, str]:
    async with http.get(f"{server.url}/graphql", headers=BROWSER) as response:
        return response, await response.text()


async def assert_loads_only_from_this_server(
    server: RunningServer, http: aiohttp.ClientSession, page: str
) -> set[str]:
    """Follows the page's references and those of the files it loads; returns every asset fetched."""
    pending = references(page)
    assert pending, "the page references nothing"
    for reference in pending:
        assert re.match(r"/[^/]", reference), f"{reference} is not a path on this server"
    seen: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        async with http.get(f"{server.url}{path}") as response:
            assert response.status == 200, path
            body = await response.read()
        if path.endswith((".js", ".css")):
            text = body.decode()
            assert _FOREIGN_LOAD.search(text) is None, f"{path} loads from another host"
            pending.extend(f"/assets/{name}" for name in _ASSET.findall(text))
    return seen


async def test_a_browser_gets_the_bundled_graphiql_without_a_token_under_a_same_origin_policy(
    tmp_path: Path, small_bundle: Path, http: aiohttp.ClientSession
) -> None:
    async with serving(tmp_path, small_bundle) as server:
        response, page = await fetch_ide(server, http)
        assert response.status == 200
        assert response.content_type == "text/html"
        assert page == (small_bundle / "graphiql.html").read_text()
        host = server.url.removeprefix("http://")
        policy = response.headers["Content-Security-Policy"]
        assert policy == content_security_policy(host)
        directives = dict(part.split(" ", 1) for part in policy.split("; "))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'"
        assert directives["worker-src"] == "'self'"
        assert directives["connect-src"] == f"'self' ws://{host} wss://{host}"
        assert response.headers["Cache-Control"] == "no-cache"
        # The page's file in the bundle is not a second way in, without the policy.
        async with http.get(f"{server.url}/graphiql.html", allow_redirects=False) as direct:
            assert (direct.status, direct.headers["Location"]) == (308, "/graphql")

        fetched = await assert_loads_only_from_this_server(server, http, page)
        assert fetched == {
            "/favicon.svg",
            "/assets/graphiql-1a.js",
            "/assets/chunk-3c.js",
            "/assets/editor.worker-4d.js",
            "/assets/graphiql-2b.css",
            "/assets/codicon-5e.ttf",
        }


async def test_an_api_client_still_gets_json_not_the_page(
    tmp_path: Path, small_bundle: Path, http: aiohttp.ClientSession
) -> None:
    async with serving(tmp_path, small_bundle) as server:
        status, body = await server.graphql(http, "{ engines { key } }")
        assert status == 200
        assert body["data"]["engines"]


async def test_without_a_built_bundle_graphiql_is_a_503_that_says_how_to_build_it(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with serving(tmp_path, tmp_path / "not-built") as server:
        response, page = await fetch_ide(server, http)
    assert response.status == 503
    assert response.content_type == "text/html"
    assert "cd web &amp;&amp; npm ci &amp;&amp; npm run build" in page
    assert "<script" not in page


def test_a_host_header_that_is_not_a_host_stays_out_of_the_policy() -> None:
    assert content_security_policy("127.0.0.1:8000").count("ws://127.0.0.1:8000 wss://127.0.0.1:8000") == 1
    assert content_security_policy("[::1]:8000").count("ws://[::1]:8000") == 1
    for forged in ("evil.example; script-src *", "a b", "", None):
        policy = content_security_policy(forged)
        assert "connect-src 'self';" in policy
        assert "*" not in policy


async def test_the_built_graphiql_loads_nothing_from_another_host(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    if not (DEFAULT_DIST / "graphiql.html").is_file():
        # scripts/test builds the bundle before pytest and sets REQUIRE_WEB_BUNDLE=1: there, a missing bundle
        # fails the run; a bare `pytest` skips, saying so.
        if os.environ.get("REQUIRE_WEB_BUNDLE") == "1":
            pytest.fail("web/dist/graphiql.html is missing: scripts/test builds it before pytest")
        pytest.skip("web/dist is not built (cd web && npm run build)")
    async with serving(tmp_path, DEFAULT_DIST) as server:
        response, page = await fetch_ide(server, http)
        assert response.status == 200
        fetched = await assert_loads_only_from_this_server(server, http, page)
    # Monaco's workers come from the bundle, not from a CDN.
    workers = {path for path in fetched if ".worker" in path}
    assert {re.sub(r"-[\w-]+\.js$", "", path) for path in workers} == {
        "/assets/editor.worker",
        "/assets/json.worker",
        "/assets/graphql.worker",
    }
