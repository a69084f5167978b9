"""Assembles the emulator: object store, controllers, HTTP server; owns their lifecycle."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import yaml
from aiohttp import web

from kubesim.churn import Churn
from kubesim.control import Control
from kubesim.controllers import Controllers
from kubesim.faults import Faults
from kubesim.metrics import Metrics
from kubesim.object_store import ObjectStore
from kubesim.server import ApiServer
from kubesim.settings import Settings


class Kubesim:
    """One emulated cluster: start() serves it on host:port, stop() shuts everything down in reverse order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.object_store = ObjectStore(settings)
        self.faults = Faults()
        self.metrics = Metrics()
        self.churn = Churn(self.object_store)
        self.controllers = Controllers(self.object_store, settings, self.faults)
        self.api = ApiServer(self.object_store, self.faults, self.metrics, settings)
        self.control = Control(
            self.object_store, self.faults, self.metrics, self.churn, restart=self._restart_soon
        )
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._host = ""
        self._restarts: set[asyncio.Task[None]] = set()
        self.port = 0

    def application(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(self.control.routes())
        app.router.add_route("*", "/{tail:.*}", self.api.handle)
        return app

    async def start(self, host: str, port: int) -> None:
        await self.controllers.start()
        # handler_cancellation: a client that closes its watch connection cancels the handler at once.
        self._runner = web.AppRunner(self.application(), handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, shutdown_timeout=1.0, reuse_address=True)
        await site.start()
        self._site, self._host = site, host
        # aiohttp exposes the bound port only through the site's server sockets (needed for --port 0).
        sockets = getattr(site._server, "sockets", None)
        if not sockets:
            raise RuntimeError(f"kubesim could not listen on {host}:{port}")
        self.port = int(sockets[0].getsockname()[1])

    def _restart_soon(self, down: float) -> None:
        task = asyncio.create_task(self._restart(down), name="kubesim-restart")
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, down: float) -> None:
        """No listener for `down` seconds (connections are refused), then the same port again."""
        await asyncio.sleep(0.05)  # the control answer that asked for it goes out first
        if self._site is None or self._runner is None:
            return
        await self._site.stop()
        await asyncio.sleep(down)
        self._site = web.TCPSite(
            self._runner, self._host, self.port, shutdown_timeout=1.0, reuse_address=True
        )
        await self._site.start()

    async def stop(self) -> None:
        for task in list(self._restarts):
            task.cancel()
        if self._restarts:
            await asyncio.wait(self._restarts)
        self.object_store.cut_watches()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.churn.stop()
        await self.controllers.stop()


def write_kubeconfig(path: Path, host: str, port: int) -> None:
    """Write a plain-http kubeconfig atomically, so a reader never sees half a file."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubesim", "cluster": {"server": f"http://{host}:{port}"}}],
        "users": [{"name": "kubesim", "user": {}}],
        "contexts": [
            {"name": "kubesim", "context": {"cluster": "kubesim", "user": "kubesim", "namespace": "default"}}
        ],
        "current-context": "kubesim",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kubeconfig-")
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
