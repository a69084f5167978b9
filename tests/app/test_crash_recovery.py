"""`storeplane serve` SIGKILLed in the middle of provisioning, then restarted on the same data folder.

The server runs as a real process (`python -m storeplane.cli serve`) against the session's kubesim with the
real helm binary. Only the server's pid is killed, not its process group: helm runs in sessions of its own, so
only its parent-death signal can stop it from outliving the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from storeplane.labels import STORE_ID_LABEL
from tests.app.e2e_helpers import Api, reasons, unique_name
from tests.app.server_helpers import ALICE_TOKEN, API_TOKENS
from tests.helpers import REPO, eventually, run

pytestmark = pytest.mark.timeout(300)

STORES = 3
# Two installs at once for three stores: when the first release is installed, the third store's helm runs.
CONCURRENCY = 2
# Seconds kubesim holds every request while the server is killed: an orphaned helm would still be mid-install
# long after its parent-death signal should have ended it.
KILL_LATENCY = 2.0
# Seconds the helm children may take to die after the server does (the kernel signals them at once).
HELM_DEATH = 1.5
# Seconds for the stores to converge after the restart (a few with kubesim's test profile).
CONVERGE = 90.0
STOP_TIMEOUT = 20.0


@dataclass(frozen=True)
class Proc:
    """A process as /proc shows it; `started` (clock ticks since boot) tells a reused pid apart."""

    pid: int
    ppid: int
    started: int
    argv: list[str]

    @property
    def is_helm(self) -> bool:
        return bool(self.argv) and Path(self.argv[0]).name == "helm"


def _read_proc(pid: int) -> tuple[Proc, str] | None:
    """The process and its state letter, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name sits in parentheses and may contain spaces: split after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    proc = Proc(pid, int(fields[1]), int(fields[19]), [a.decode() for a in argv if a])
    return proc, fields[0]


def children_of(parent: int) -> list[Proc]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            read = _read_proc(int(entry.name))
            if read is not None and read[0].ppid == parent:
                found.append(read[0])
    return found


def alive(proc: Proc) -> bool:
    read = _read_proc(proc.pid)
    return read is not None and read[0].started == proc.started and read[1] != "Z"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def pgrep(*args: str) -> list[int]:
    """pids that `pgrep` finds (it exits 1 when there are none)."""
    result = await run(["pgrep", *args], env=os.environ, timeout=10)
    assert result.returncode in (0, 1), result
    return [int(pid) for pid in result.stdout.split()]


class Servers:
    """`storeplane serve` processes, each in its own process group, all logging to one file."""

    def __init__(self, *, env: dict[str, str], port: int, log: Path) -> None:
        self.env = env
        self.port = port
        self.log = log
        self.started: list[asyncio.subprocess.Process] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> asyncio.subprocess.Process:
        with self.log.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "storeplane.cli",
                "serve",
                "--port",
                str(self.port),
                cwd=REPO,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def kill_all(self) -> None:
        """SIGKILL every server's process group and reap it; then nothing of those groups may be left."""
        for process in self.started:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        for process in self.started:

            async def group_empty(pgid: int = process.pid) -> bool:
                return not await pgrep("-g", str(pgid))

            await eventually(group_empty, timeout=5, what=f"process group {process.pid} to be empty")


def server_env(kube_env: dict[str, str], kubesim: KubesimProcess, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in kube_env.items() if not key.startswith("STOREPLANE_")}
    env.update(
        STOREPLANE_KUBECONFIG=str(kubesim.kubeconfig),
        STOREPLANE_DATA_DIR=str(data_dir),
        STOREPLANE_API_TOKENS=API_TOKENS,
        STOREPLANE_CHARTS_DIR=str(REPO / "charts"),
        STOREPLANE_VALUES_DIR=str(REPO / "values"),
        STOREPLANE_ENVIRONMENT="local",
        STOREPLANE_PROVISIONING_CONCURRENCY=str(CONCURRENCY),
        STOREPLANE_PROVISIONING_TIMEOUT_SECONDS=str(CONVERGE),
        STOREPLANE_WATCH_BACKOFF_INITIAL_SECONDS="0.05",
        STOREPLANE_WATCH_BACKOFF_MAX_SECONDS="0.5",
    )
    return env


async def kill_during_an_install(
    server: asyncio.subprocess.Process, client: Api, control: ControlClient
) -> list[Proc]:
    """SIGKILL the server (its pid only) once a release is installed and another helm install is running.

    Returns the helm processes the server had running at that moment. Before the kill kubesim is slowed down,
    so that those helms are mid-install and would stay alive if nothing killed them with their parent.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        installing = [p for p in children_of(server.pid) if p.is_helm and "install" in p.argv[1:2]]
        if installing and "HelmInstalled" in reasons(await client.events()):
            await control.set_latency(KILL_LATENCY)
            helms = [p for p in children_of(server.pid) if p.is_helm]
            if any(p in installing for p in helms):
                os.kill(server.pid, signal.SIGKILL)
                await asyncio.wait_for(server.wait(), STOP_TIMEOUT)
                return helms
            await control.set_latency(0)
        await asyncio.sleep(0.005)
    raise AssertionError("no moment with a release installed and another helm install running")


async def helm_releases(kube_env: dict[str, str]) -> list[dict[str, Any]]:
    helm = REPO / ".tools" / "bin" / "helm"
    result = (await run([str(helm), "list", "-A", "-o", "json"], env=kube_env, timeout=60)).check()
    releases: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return releases


async def test_a_server_killed_mid_provisioning_leaves_no_helm_behind_and_every_store_converges_after_restart(
    tmp_path: Path, kubesim: KubesimProcess, kube_env: dict[str, str], control: ControlClient, api: ApiClient
) -> None:
    servers = Servers(
        env=server_env(kube_env, kubesim, tmp_path / "data"), port=free_port(), log=tmp_path / "serve.log"
    )
    names = [unique_name("crash") for _ in range(STORES)]
    helms: list[Proc] = []
    try:
        async with aiohttp.ClientSession() as http:
            client = Api(http, servers.url, ALICE_TOKEN)
            first = await servers.start()
            await client.wait_until_ready(timeout=30)
            stores = [await client.create_store(name) for name in names]
            ids = [store["id"] for store in stores]

            helms.extend(await kill_during_an_install(first, client, control))
            assert first.returncode == -signal.SIGKILL
            assert any("install" in p.argv for p in helms), helms

            async def helms_dead() -> bool:
                return not any(alive(p) for p in helms)

            await eventually(
                helms_dead, timeout=HELM_DEATH, interval=0.02, what=f"helm children {helms} to die"
            )
            await control.set_latency(0)
            assert not await pgrep("-g", str(first.pid)), "the killed server's process group is not empty"

            second = await servers.start()
            await client.wait_until_ready(timeout=30)
            final = {
                store_id: await client.wait_for_status(store_id, "READY", "FAILED", timeout=CONVERGE)
                for store_id in ids
            }
            for store in final.values():
                if store["status"] == "FAILED":
                    assert store["failureReason"], store
                else:
                    assert store["storefrontUrl"] == f"http://{store['name']}.localtest.me/", store
            ready = {store_id for store_id, store in final.items() if store["status"] == "READY"}
            assert ready, f"no store became Ready after the restart: {final}\n{servers.tail()}"

            # One release per store, in its namespace, deployed when the store is Ready; none pending.
            namespaces = {store["namespace"]: store for store in stores}
            releases = [r for r in await helm_releases(kube_env) if r["namespace"] in namespaces]
            by_namespace = {
                namespace: [r for r in releases if r["namespace"] == namespace] for namespace in namespaces
            }
            for namespace, found in by_namespace.items():
                store = namespaces[namespace]
                assert [r["name"] for r in found] == [store["name"]], (namespace, found)
                if store["id"] in ready:
                    assert found[0]["status"] == "deployed", found

            # One namespace per store, carrying its id; no derivative left over from the first process.
            listed = await CoreV1Api(api).list_namespace(label_selector=STORE_ID_LABEL)
            ours = {
                ns.metadata.name: ns.metadata.labels[STORE_ID_LABEL]
                for ns in listed.items
                if ns.metadata.labels[STORE_ID_LABEL] in ids
                or any(name in ns.metadata.name for name in names)
            }
            assert ours == {store["namespace"]: store["id"] for store in stores}

            # No step of the control plane announced twice: the restart resumed the stores, it did not start
            # them over. A step may lack its event when the kill fell between its commit and the event's; and
            # Kubernetes may legitimately report twice, when a release that a killed helm left pending-install
            # is reinstalled and its pods and setup Job run again.
            for store_id in ids:
                order = reasons(await client.events(store_id))
                assert order.count("Created") == 1, order
                for step in (
                    "Provisioning",
                    "NamespaceCreated",
                    "NamespaceReused",
                    "HelmInstalled",
                    "HelmReleaseReused",
                ):
                    assert order.count(step) <= 1, (step, order)
                if store_id in ready:
                    assert {"NamespaceCreated", "NamespaceReused"} & set(order), order
                    assert {"HelmInstalled", "HelmReleaseReused"} & set(order), order
                    assert order.count("IngressReady") == 1, order
                    assert order.count("Ready") == 1, order
                    assert order.index("JobCompleted") < order.index("Ready"), order

            # No helm process is left running for any of the stores.
            for name in names:
                assert not await pgrep("-f", name), f"a process for store {name} is still running"

            for store_id in ids:
                await client.delete_store(store_id)
            for store_id in ids:
                await client.wait_for_status(store_id, "DELETED", timeout=CONVERGE)
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), STOP_TIMEOUT) in (0, -signal.SIGTERM)
        listed = await CoreV1Api(api).list_namespace(label_selector=STORE_ID_LABEL)
        assert not [ns.metadata.name for ns in listed.items if ns.metadata.labels[STORE_ID_LABEL] in ids]
    except BaseException:
        print(f"--- storeplane serve log (tail) ---\n{servers.tail()}")
        raise
    finally:
        try:
            await servers.kill_all()
        finally:
            # helm runs in sessions of its own: if one outlived the server after all, end it here, by its pid.
            for proc in helms:
                if alive(proc):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGKILL)
