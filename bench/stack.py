"""The system under benchmark: kubesim and `storeplane serve` as separate processes, and a GraphQL client.

Each benchmark runs Storeplane exactly as a user does (`python -m storeplane.cli serve`, configured through
`STOREPLANE_*`), in its own process group with its own data folder, helm homes and kubeconfig, so the
client's event loop and the server's never share a core's time slices more than the OS decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from kubesim.process import KubesimProcess

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789abcdef"
OWNER = "bench"
# uvicorn's startup line; the server listens on port 0 and this tells which port it got.
_LISTENING = re.compile(r"Uvicorn running on (http://\S+:\d+)")
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
PROTOCOL = "graphql-transport-ws"
ENGINE = "woocommerce"
CREATE_STORE = """
mutation Create($input: CreateStoreInput!) {
  createStore(input: $input) {
    __typename
    ... on CreateStoreSuccess { store { id status } }
    ... on Error { message }
  }
}
"""


class GraphQLError(RuntimeError):
    """A GraphQL response carried `errors` (or was not 200)."""


def helm_env(workdir: Path) -> dict[str, str]:
    """Helm homes of this run only, so a benchmark never touches the user's helm configuration."""
    env = {}
    for name in ("CACHE", "CONFIG", "DATA"):
        path = workdir / f"helm-{name.lower()}"
        path.mkdir(exist_ok=True)
        env[f"HELM_{name}_HOME"] = str(path)
    return env


def helm_binary() -> str:
    """The pinned helm that scripts/install-tools puts in .tools/bin."""
    path = REPO / ".tools" / "bin" / "helm"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: run scripts/bootstrap first")
    return str(path)


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary folder for one run (kubeconfig, database, logs), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield Path(path)


def log_tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@dataclass
class StoreplaneProcess:
    """`storeplane serve` in a process group of its own, listening on a free port of 127.0.0.1."""

    workdir: Path
    kubeconfig: Path | None
    settings: Mapping[str, str] = field(default_factory=dict)
    """Extra STOREPLANE_* variables (names without the prefix, e.g. {"PROVISIONING_CONCURRENCY": "8"})."""
    url: str = ""
    _proc: asyncio.subprocess.Process | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "storeplane.log"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/graphql"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOREPLANE_")}
        env.update(helm_env(self.workdir))
        env["PYTHONPATH"] = str(REPO)
        env["STOREPLANE_DATA_DIR"] = str(self.workdir / "data")
        env["STOREPLANE_API_TOKENS"] = f"{TOKEN}:{OWNER}"
        env["STOREPLANE_HELM_BINARY"] = helm_binary()
        if self.kubeconfig is not None:
            env["STOREPLANE_KUBECONFIG"] = str(self.kubeconfig)
            env["KUBECONFIG"] = str(self.kubeconfig)
        for name, value in self.settings.items():
            env[f"STOREPLANE_{name.upper()}"] = value
        return env

    async def start(self, *, ready: bool = True) -> None:
        """Start the server; return once it listens and (with `ready`) /readyz answers 200."""
        # A restart appends to the same log: only lines written after this point tell the new port.
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "storeplane.cli",
                "serve",
                "--port",
                "0",
                env=self.environment(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.url:
            if self._proc.returncode is not None:
                code = self._proc.returncode
                raise RuntimeError(f"storeplane exited with {code}:\n{log_tail(self.log_path)}")
            if time.monotonic() > deadline:
                await self.stop()
                raise TimeoutError(f"storeplane did not listen within {STARTUP_TIMEOUT}s")
            found = _LISTENING.search(self.log_path.read_bytes()[offset:].decode(errors="replace"))
            if found:
                self.url = found.group(1)
            else:
                await asyncio.sleep(0.05)
        if ready:
            await self.wait_ready(deadline)

    async def wait_ready(self, deadline: float) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(2)) as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.url}/readyz not 200 in time:\n{log_tail(self.log_path)}")
                await asyncio.sleep(0.1)

    async def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM the process group (helm children included), SIGKILL if it lingers; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()
        self.url = ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


@contextlib.asynccontextmanager
async def kubesim_running(
    workdir: Path, *, profile: str = "test", delays: Mapping[str, float] | None = None
) -> AsyncIterator[KubesimProcess]:
    """kubesim in its own process for the duration of the block; its log's end is printed on failure."""
    sim = KubesimProcess(
        kubeconfig=workdir / "kubeconfig",
        profile=profile,
        delays=dict(delays or {}),
        log_path=workdir / "kubesim.log",
    )
    await asyncio.to_thread(sim.start)
    try:
        yield sim
    except BaseException:
        print(f"kubesim log (end):\n{log_tail(workdir / 'kubesim.log')}", file=sys.stderr)
        raise
    finally:
        await asyncio.to_thread(sim.stop)


@contextlib.asynccontextmanager
async def storeplane_running(
    workdir: Path, kubeconfig: Path | None, settings: Mapping[str, str] | None = None
) -> AsyncIterator[StoreplaneProcess]:
    """`storeplane serve` for the duration of the block; its log's end is printed on failure."""
    server = StoreplaneProcess(workdir=workdir, kubeconfig=kubeconfig, settings=dict(settings or {}))
    try:
        await server.start()
        yield server
    except BaseException:
        print(f"storeplane log (end):\n{log_tail(server.log_path)}", file=sys.stderr)
        raise
    finally:
        await server.stop()


class GraphQL:
    """GraphQL over HTTP POST as the benchmark's owner."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str = TOKEN) -> None:
        self._http = http
        self._url = f"{url}/graphql"
        self._headers = {"Authorization": f"Bearer {token}"}

    async def call(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        async with self._http.post(
            self._url,
            json={"query": query, "variables": dict(variables or {})},
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(REQUEST_TIMEOUT),
        ) as response:
            body: dict[str, Any] = await response.json()
        if response.status != 200 or body.get("errors"):
            raise GraphQLError(json.dumps(body)[:2000])
        data: dict[str, Any] = body["data"]
        return data


class CreateStoreError(RuntimeError):
    """createStore answered with a typed error instead of a store."""


async def create_store(gql: GraphQL, name: str, *, engine: str = ENGINE) -> str:
    """createStore through the API, as a script would; the new store's id."""
    result = (await gql.call(CREATE_STORE, {"input": {"name": name, "engine": engine}}))["createStore"]
    if result["__typename"] != "CreateStoreSuccess":
        raise CreateStoreError(f"createStore {name}: {result}")
    return str(result["store"]["id"])


async def open_subscription(
    ws_url: str, query: str, variables: Mapping[str, Any] | None = None, *, token: str = TOKEN
) -> ClientConnection:
    """A websocket with one graphql-transport-ws subscription started (id "1"); read its `next` messages."""
    protocols = [Subprotocol(PROTOCOL)]
    ws = await connect(ws_url, subprotocols=protocols, open_timeout=REQUEST_TIMEOUT, max_queue=None)
    try:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        async with asyncio.timeout(REQUEST_TIMEOUT):
            ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise GraphQLError(f"no connection_ack: {ack}")
        payload = {"query": query, "variables": dict(variables or {})}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    except BaseException:
        await ws.close()
        raise
    return ws


def run_benchmark(
    measure: Callable[[], Awaitable[dict[str, Any]]], table: Callable[[dict[str, Any]], str]
) -> None:
    """Run a measurement, then print its table and, as the last line, its figures as one JSON object.

    SIGTERM stops a benchmark as Ctrl-C does: the measurement is cancelled, and with it every process it
    started (kubesim, Storeplane, clients) is stopped before the benchmark exits.
    """
    started = time.perf_counter()

    async def main() -> dict[str, Any]:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await measure()

    try:
        result = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("stopped; every process the benchmark started has been stopped", file=sys.stderr)
        raise SystemExit(130) from None
    result.setdefault("machine", machine())
    result["duration_s"] = round(time.perf_counter() - started, 1)
    print(table(result))
    print(json.dumps(result, separators=(",", ":")))


def machine() -> dict[str, Any]:
    """What the figures came from."""
    import platform

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
