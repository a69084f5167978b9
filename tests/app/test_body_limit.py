"""Request bodies over the limit: 413 while they arrive, memory bounded, the server answering meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.app.server_helpers import ALICE_TOKEN, RunningServer, run_server, token_settings

FIFTY_MB = 50 * 1024 * 1024
CHUNK = 256 * 1024


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def post_raw(server: RunningServer, path: str, *, chunked: bool, slowly: bool = False) -> int:
    """POST 50 MB of JSON-ish bytes to `path` over a raw connection; the status the server answered."""
    address = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {FIFTY_MB}\r\n".encode()
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n".encode()
        # An unauthenticated /graphql is refused before its body is read: send a token to get that far.
        + f"Authorization: Bearer {ALICE_TOKEN}\r\n".encode()
        + framing
        + b"\r\n"
    )
    # The answer is read while the body is being sent: the server answers as soon as the limit is passed.
    answer = asyncio.create_task(reader.readline())
    sent = 0
    try:
        while sent < FIFTY_MB and not answer.done():
            piece = b"[" + b"1," * (CHUNK // 2 - 1) + b"1"
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
            await writer.drain()
            sent += len(piece)
            await asyncio.sleep(0.01 if slowly else 0)
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server closed the connection after answering
    status_line = await asyncio.wait_for(answer, 10)
    writer.close()
    return int(status_line.split()[1])


@pytest.fixture
async def server(tmp_path: Path) -> RunningServer:  # type: ignore[misc]
    settings = token_settings(tmp_path)
    async with run_server(settings) as running:
        yield running


@pytest.mark.parametrize("path", ["/auth/session", "/graphql"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_50_mb_body_is_refused_with_413_without_growing_memory(
    server: RunningServer, path: str, chunked: bool
) -> None:
    before = rss_bytes()
    peak = [before]

    async def sample() -> None:
        # A buffered body would show while it is held, even if it is freed (unmapped) right after.
        while True:
            peak[0] = max(peak[0], rss_bytes())
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    try:
        assert await post_raw(server, path, chunked=chunked) == 413
    finally:
        sampler.cancel()
    assert peak[0] - before < 10 * 1024 * 1024, (peak[0] - before) // 1024


async def test_the_server_answers_while_a_large_body_arrives(server: RunningServer) -> None:
    upload = asyncio.create_task(post_raw(server, "/graphql", chunked=True, slowly=True))
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with asyncio.timeout(1.0), http.get(f"{server.url}/healthz") as response:
                assert response.status == 200
    assert await upload == 413


async def test_a_body_within_the_limit_is_served(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await server.graphql(http, "{ engines { key } }")
    assert status == 200
    assert body["data"]["engines"]
