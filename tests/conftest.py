"""Session-wide fixtures: one kubesim process, isolated helm and kubeconfig homes, the helm binary."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from tests.helpers import TOOLS_BIN, find_tool

BOOKMARK_INTERVAL = 0.5


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def kubesim(session_dir: Path) -> Iterator[KubesimProcess]:
    """A kubesim process for the whole session, started and stopped by the tests."""
    sim = KubesimProcess(
        kubeconfig=session_dir / "kubeconfig",
        log_path=session_dir / "kubesim.log",
        # Frequent bookmarks let the watch tests see one within a second.
        extra_args=["--bookmark-interval", str(BOOKMARK_INTERVAL)],
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def kube_env(kubesim: KubesimProcess, session_dir: Path) -> dict[str, str]:
    """Environment for helm and kubectl: this session's KUBECONFIG and its own HELM_*_HOME folders."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HELM_", "KUBE"))}
    for name in ("CACHE", "CONFIG", "DATA"):
        home = session_dir / f"helm-{name.lower()}"
        home.mkdir(exist_ok=True)
        env[f"HELM_{name}_HOME"] = str(home)
    env["KUBECONFIG"] = str(kubesim.kubeconfig)
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(session_dir)
    return env


@pytest.fixture(scope="session")
def helm() -> str:
    return find_tool("helm")


@pytest.fixture(scope="session")
def kubectl() -> str:
    return find_tool("kubectl")


@pytest.fixture
async def api(kubesim: KubesimProcess) -> AsyncIterator[ApiClient]:
    """A kubernetes_asyncio client configured from the session's kubeconfig, as a real user would."""
    configuration = Configuration()
    await config.load_kube_config(config_file=str(kubesim.kubeconfig), client_configuration=configuration)
    async with ApiClient(configuration=configuration) as client:
        yield client


@pytest.fixture
async def control(kubesim: KubesimProcess) -> AsyncIterator[ControlClient]:
    """The kubesim control client; clears faults after each test so one test's breakage never leaks."""
    async with ControlClient(kubesim.url) as client:
        try:
            yield client
        finally:
            await client.clear_faults()
