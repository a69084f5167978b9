from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from kubesim.process import KubesimProcess
from storeplane.cli import main
from storeplane.provisioning.protocol import NoProvisioner
from storeplane.stores.progress import StatusOnlyTracker
from storeplane.system import ClusterParts, Core
from tests.app.server_helpers import run_server, token_settings
from tests.helpers import REPO, eventually


async def test_healthz_and_readyz_report_the_process_and_the_database(tmp_path: Path) -> None:
    settings = token_settings(tmp_path)
    async with run_server(settings) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/healthz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})
        async with http.get(f"{server.url}/readyz") as response:
            assert (response.status, await response.json()) == (
                200,
                {"status": "ready", "checks": {"database": "ok"}},
            )


async def test_the_cluster_side_runs_inside_the_writer_and_adds_readiness_checks(tmp_path: Path) -> None:
    calls: list[str] = []

    @asynccontextmanager
    async def cluster(core: Core) -> AsyncIterator[ClusterParts]:
        calls.append(f"start cluster (writer running: {core.writer.running})")

        async def watchers() -> str | None:
            return None

        async def api_server() -> str | None:
            return "cluster unreachable"

        try:
            yield ClusterParts(
                provisioner=NoProvisioner(),
                tracker=StatusOnlyTracker(),
                readiness_checks={"watchers": watchers, "cluster": api_server},
            )
        finally:
            calls.append(f"stop cluster (writer running: {core.writer.running})")

    settings = token_settings(tmp_path)
    async with run_server(settings, cluster=cluster) as server, aiohttp.ClientSession() as http:
        assert calls == ["start cluster (writer running: True)"]
        async with http.get(f"{server.url}/readyz") as response:
            assert response.status == 503
            assert await response.json() == {
                "status": "not ready",
                "checks": {"database": "ok", "watchers": "ok", "cluster": "cluster unreachable"},
            }
    assert calls == ["start cluster (writer running: True)", "stop cluster (writer running: True)"]
    assert server.system.core.writer.running is False


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    output = tmp_path / "schema.graphql"
    assert main(["export-schema", "--output", str(output)]) == 0
    assert output.read_text() == (REPO / "schema.graphql").read_text()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_serve_runs_in_its_own_process_with_a_dev_token_and_stops_on_sigterm(
    tmp_path: Path, kubesim: KubesimProcess, kube_env: dict[str, str]
) -> None:
    port = _free_port()
    env = {key: value for key, value in kube_env.items() if not key.startswith("STOREPLANE_")}
    env["STOREPLANE_DATA_DIR"] = str(tmp_path / "data")
    # /readyz includes the cluster: serve talks to the session's kubesim.
    env["STOREPLANE_KUBECONFIG"] = str(kubesim.kubeconfig)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "storeplane.cli",
        "serve",
        "--port",
        str(port),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(healthy, timeout=30, what="storeplane serve to be ready")
            token = (tmp_path / "data" / "dev-token").read_text().strip()
            async with http.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": "{ stores { edges { node { id } } } }"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert (response.status, await response.json()) == (200, {"data": {"stores": {"edges": []}}})
            # Created by the server for itself only (umask 077): the database, its WAL and SHM, the token.
            data = tmp_path / "data"
            created = ["storeplane.sqlite3", "storeplane.sqlite3-wal", "storeplane.sqlite3-shm", "dev-token"]
            modes = {name: stat.S_IMODE((data / name).stat().st_mode) for name in created}
            assert modes == dict.fromkeys(created, 0o600), {name: oct(mode) for name, mode in modes.items()}
            assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it captured.
        assert await asyncio.wait_for(process.wait(), 20) in (0, -signal.SIGTERM)
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
        assert "Application shutdown complete" in log
        assert str(tmp_path / "data" / "dev-token") in log
        assert token not in log
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
