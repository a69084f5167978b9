"""A real uvicorn server on 127.0.0.1 (port 0) in this process, serving `create_app` over a SQLite file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from websockets.asyncio.client import ClientConnection

from storeplane.server import create_app
from storeplane.serving import uvicorn_config
from storeplane.settings import Settings, parse_api_tokens
from storeplane.stores.progress import StatusOnlyTracker
from storeplane.system import Cluster, ClusterParts, Core, System
from tests.app.fake_provisioner import RecordingProvisioner

ALICE_TOKEN = "alice-token-0123456789"
BOB_TOKEN = "bob-token-0123456789abc"
API_TOKENS = f"{ALICE_TOKEN}:alice,{BOB_TOKEN}:bob"
STARTUP_TIMEOUT = 20.0
RECEIVE_TIMEOUT = 10.0


def token_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with alice's and bob's tokens and the data folder in this test's tmp_path."""
    return Settings(data_dir=tmp_path / "data", api_tokens=parse_api_tokens(API_TOKENS), **overrides)


@dataclass
class RunningServer:
    url: str
    ws_url: str
    system: System
    provisioner: RecordingProvisioner
    """What the store service asked of provisioning (unused when the test gives a cluster of its own)."""

    async def graphql(
        self,
        session: aiohttp.ClientSession,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = ALICE_TOKEN,
    ) -> tuple[int, dict[str, Any]]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with session.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        ) as response:
            body: dict[str, Any] = await response.json()
            return response.status, body


@asynccontextmanager
async def run_server(
    settings: Settings, *, cluster: Cluster | None = None, web_dist: Path | None = None
) -> AsyncIterator[RunningServer]:
    """The server with `cluster` as its cluster side, by default one that records provisioning requests."""
    provisioner = RecordingProvisioner()

    @asynccontextmanager
    async def recording_cluster(core: Core) -> AsyncIterator[ClusterParts]:
        yield ClusterParts(provisioner=provisioner, tracker=StatusOnlyTracker())

    app = create_app(
        settings,
        cluster=cluster or recording_cluster,
        **({} if web_dist is None else {"web_dist": web_dist}),
    )
    config = uvicorn_config(app, settings, host="127.0.0.1", port=0, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="uvicorn")
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # raises the start-up error
                    raise RuntimeError("uvicorn exited during start-up")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield RunningServer(
            url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}/graphql",
            # The lifespan's state, which Starlette hands every request as `request.state`.
            system=server.lifespan.state["system"],
            provisioner=provisioner,
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=STARTUP_TIMEOUT)


async def receive(ws: ClientConnection, *, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))
