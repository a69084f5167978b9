"""The helm wrapper driving the real helm binary against the session's kubesim.

Each test makes its own namespace, labelled as the control plane does, and unique release names, so that
`pgrep -f <name>` finds only this test's helm processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import stat
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, V1Namespace, V1ObjectMeta

from kubesim.client import ControlClient
from storeplane.k8s import errors
from storeplane.k8s.helm import Helm, HelmConfig, ReleaseState
from tests.helpers import REPO, eventually, run

WOOCOMMERCE = REPO / "charts" / "woocommerce"
LOCAL_VALUES = REPO / "values" / "local.yaml"
DEMO = REPO / "tests" / "kubesim" / "charts" / "demo"
STORE_LABEL = "storeplane.io/store-id"


@pytest.fixture
def values_dir(tmp_path: Path) -> Path:
    """Where the wrapper writes per-store values files during a call."""
    folder = tmp_path / "values"
    folder.mkdir()
    return folder


@pytest.fixture
def config(helm: str, kube_env: dict[str, str], values_dir: Path) -> HelmConfig:
    return HelmConfig(
        binary=helm,
        env=kube_env,
        values_dir=values_dir,
        history_max=3,
        operation_timeout=60.0,
        mutation_timeout=90.0,
        query_timeout=30.0,
        kill_grace=3.0,
    )


@pytest.fixture
def wrapper(config: HelmConfig) -> Helm:
    return Helm(config)


@pytest.fixture
async def namespace(api: ApiClient) -> AsyncIterator[str]:
    """A store namespace created and labelled by us, as the control plane does (helm never creates it)."""
    store_id = f"st-{uuid.uuid4().hex[:8]}"
    name = f"store-{store_id}"
    core = CoreV1Api(api)
    labels = {STORE_LABEL: store_id, "app.kubernetes.io/managed-by": "storeplane"}
    await core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=name, labels=labels)))
    yield name
    await core.delete_namespace(name)


@pytest.fixture
async def latency(control: ControlClient) -> AsyncIterator[ControlClient]:
    """The control client, with kubesim's added latency reset after the test (the `control` fixture only
    clears faults)."""
    try:
        yield control
    finally:
        await control.set_latency(0)


def release_name(prefix: str = "shop") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def store_values(release: str) -> dict[str, Any]:
    return {"store": {"id": f"id-{release}", "name": release, "host": f"{release}.localtest.me"}}


def values_files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def file_mode_and_text(path: Path) -> tuple[int, str] | None:
    """The permission bits and text of `path`, None when it does not exist."""
    try:
        return stat.S_IMODE(path.stat().st_mode), path.read_text()
    except FileNotFoundError:
        return None


def alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def helm_processes(marker: str) -> list[str]:
    """`pgrep -af` lines of live processes whose command line contains `marker` (a unique release name)."""
    found = await run(["pgrep", "-af", marker], env=os.environ)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line and alive(int(line.split()[0]))]


async def first_helm_pid(wrapper: Helm) -> int:
    async def probe() -> int | None:
        return next(iter(wrapper.running), None)

    return await eventually(probe, timeout=10, what="helm to start")


async def test_a_store_is_installed_upgraded_and_uninstalled_with_the_woocommerce_chart(
    wrapper: Helm, values_dir: Path, namespace: str
) -> None:
    release = release_name()
    values = store_values(release)

    installed = await wrapper.install(
        release=release, namespace=namespace, chart=WOOCOMMERCE, values=[LOCAL_VALUES, values]
    )

    assert (installed.name, installed.namespace, installed.revision) == (release, namespace, 1)
    assert installed.status is ReleaseState.DEPLOYED
    assert installed.chart == "woocommerce-0.1.0"
    assert values_files(values_dir) == []
    status = await wrapper.status(release=release, namespace=namespace)
    assert (status.status, status.revision, status.chart, status.app_version) == (
        ReleaseState.DEPLOYED,
        1,
        "woocommerce-0.1.0",
        "10.9.4",
    )
    assert status.last_deployed is not None
    assert abs(time.time() - status.last_deployed.timestamp()) < 120
    # helm got exactly the two files: the environment's and the store's.
    assert (await wrapper.get_values(release=release, namespace=namespace))["store"] == values["store"]

    upgraded = await wrapper.upgrade(
        release=release, namespace=namespace, chart=WOOCOMMERCE, values=[LOCAL_VALUES, values]
    )
    assert (upgraded.revision, upgraded.status) == (2, ReleaseState.DEPLOYED)
    again = await wrapper.upgrade(
        release=release, namespace=namespace, chart=WOOCOMMERCE, values=[LOCAL_VALUES, values]
    )
    assert again.revision == 3
    history = await wrapper.history(release=release, namespace=namespace)
    assert [(r.revision, r.status) for r in history] == [
        (1, ReleaseState.SUPERSEDED),
        (2, ReleaseState.SUPERSEDED),
        (3, ReleaseState.DEPLOYED),
    ]
    assert f"name: {release}-wordpress" in await wrapper.get_manifest(release=release, namespace=namespace)

    await wrapper.uninstall(release=release, namespace=namespace)

    with pytest.raises(errors.ReleaseNotFound) as missing:
        await wrapper.status(release=release, namespace=namespace)
    assert missing.value.exit_code == 1
    assert missing.value.stderr == "Error: release: not found"
    with pytest.raises(errors.ReleaseNotFound):
        await wrapper.uninstall(release=release, namespace=namespace)
    await wrapper.uninstall(release=release, namespace=namespace, ignore_not_found=True)
    assert values_files(values_dir) == []


async def test_history_max_bounds_the_revisions_helm_keeps(wrapper: Helm, namespace: str) -> None:
    release = release_name("demo")
    await wrapper.install(
        release=release, namespace=namespace, chart=DEMO, values=[{"job": {"enabled": False}}]
    )
    for _ in range(4):
        await wrapper.upgrade(
            release=release, namespace=namespace, chart=DEMO, values=[{"job": {"enabled": False}}]
        )

    history = await wrapper.history(release=release, namespace=namespace)

    # history_max=3 in the config: revisions 1 and 2 were pruned.
    assert [r.revision for r in history] == [3, 4, 5]


async def test_list_releases_by_namespace_filter_state_and_across_namespaces(
    wrapper: Helm, namespace: str
) -> None:
    first, second = release_name("alpha"), release_name("beta")
    for name in (first, second):
        await wrapper.install(
            release=name, namespace=namespace, chart=DEMO, values=[{"job": {"enabled": False}}]
        )

    listed = await wrapper.list_releases(namespace=namespace)
    assert sorted(r.name for r in listed) == sorted([first, second])
    assert {(r.namespace, r.revision, r.status, r.chart) for r in listed} == {
        (namespace, 1, ReleaseState.DEPLOYED, "demo-0.1.0")
    }
    assert all(r.last_deployed is not None for r in listed)
    filtered = await wrapper.list_releases(namespace=namespace, filter_regex=f"^{first}$")
    assert [r.name for r in filtered] == [first]
    assert await wrapper.list_releases(namespace=namespace, states=[ReleaseState.FAILED]) == []
    everywhere = await wrapper.list_releases(namespace=None, filter_regex=first)
    assert [(r.name, r.namespace) for r in everywhere] == [(first, namespace)]


async def test_installing_a_name_that_is_in_use_raises_release_exists(wrapper: Helm, namespace: str) -> None:
    release = release_name("demo")
    await wrapper.install(release=release, namespace=namespace, chart=DEMO)

    with pytest.raises(errors.ReleaseExists) as exists:
        await wrapper.install(release=release, namespace=namespace, chart=DEMO)

    assert exists.value.exit_code == 1
    assert "cannot reuse a name that is still in use" in exists.value.stderr
    assert (await wrapper.status(release=release, namespace=namespace)).revision == 1


async def test_upgrading_a_release_that_never_existed_raises_release_not_found(
    wrapper: Helm, namespace: str
) -> None:
    with pytest.raises(errors.ReleaseNotFound, match="has no deployed releases"):
        await wrapper.upgrade(release=release_name("ghost"), namespace=namespace, chart=DEMO)


async def test_a_cluster_on_a_closed_port_raises_cluster_unreachable(
    config: HelmConfig, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "dead", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "dead", "user": {}}],
                "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "dead"}}],
                "current-context": "dead",
            }
        )
    )
    # --kubeconfig wins over the KUBECONFIG in the environment, which points at the live kubesim.
    dead = Helm(dataclasses.replace(config, kubeconfig=str(kubeconfig), kube_context="dead"))

    with pytest.raises(errors.ClusterUnreachable, match="connection refused"):
        await dead.status(release="demo", namespace="default")
    with pytest.raises(errors.ClusterUnreachable, match="kubernetes cluster unreachable"):
        await dead.install(release="demo", namespace="default", chart=DEMO)
    with pytest.raises(errors.ClusterUnreachable):
        await dead.list_releases(namespace=None)


async def test_an_api_server_outage_raises_cluster_unreachable(
    wrapper: Helm, namespace: str, control: ControlClient
) -> None:
    await control.outage(3, code=503)

    with pytest.raises(errors.ClusterUnreachable, match="currently unable to handle the request"):
        await wrapper.list_releases(namespace=namespace)
    with pytest.raises(errors.ClusterUnreachable):
        await wrapper.install(release=release_name("demo"), namespace=namespace, chart=DEMO)

    # The same calls work again once the API server is back.
    await eventually(lambda: _lists(wrapper, namespace), timeout=10, what="the outage to end")


async def _lists(wrapper: Helm, namespace: str) -> bool:
    try:
        await wrapper.list_releases(namespace=namespace)
    except errors.ClusterUnreachable:
        return False
    return True


async def test_values_that_fail_the_chart_schema_raise_invalid_chart_without_echoing_them(
    wrapper: Helm, values_dir: Path, namespace: str
) -> None:
    release = release_name()
    values = store_values(release)
    values["woocommerce"] = {"currency": "not-a-currency-s3cret"}

    with pytest.raises(errors.InvalidChart) as invalid:
        await wrapper.install(
            release=release, namespace=namespace, chart=WOOCOMMERCE, values=[LOCAL_VALUES, values]
        )

    assert "at '/woocommerce/currency': '***' does not match pattern" in invalid.value.stderr
    assert "s3cret" not in str(invalid.value)
    assert f"id-{release}" not in str(invalid.value)
    assert values_files(values_dir) == []
    with pytest.raises(errors.ReleaseNotFound):
        await wrapper.status(release=release, namespace=namespace)


async def test_a_template_that_fails_to_render_raises_invalid_chart(wrapper: Helm, namespace: str) -> None:
    # The chart refuses release names over 40 characters with `fail` (docs/chart.md).
    release = release_name("x" * 35)

    with pytest.raises(errors.InvalidChart, match="execution error at"):
        await wrapper.install(
            release=release,
            namespace=namespace,
            chart=WOOCOMMERCE,
            values=[LOCAL_VALUES, store_values(release)],
        )


async def test_a_missing_chart_raises_invalid_chart(wrapper: Helm, namespace: str, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidChart, match="not found"):
        await wrapper.install(release=release_name(), namespace=namespace, chart=tmp_path / "no-such-chart")


async def test_invalid_names_are_rejected_before_helm_runs_or_values_are_kept(
    wrapper: Helm, values_dir: Path, namespace: str
) -> None:
    for release in ("Bad_Name", "--dry-run", "x" * 54):
        with pytest.raises(errors.InvalidName):
            await wrapper.install(
                release=release, namespace=namespace, chart=DEMO, values=[{"message": "hi"}]
            )
    with pytest.raises(errors.InvalidName):
        await wrapper.status(release="demo", namespace="-A")

    assert wrapper.running == {}
    assert values_files(values_dir) == []


async def test_a_missing_helm_binary_is_reported_as_such(config: HelmConfig, tmp_path: Path) -> None:
    missing = Helm(dataclasses.replace(config, binary=str(tmp_path / "no-helm")))

    with pytest.raises(errors.HelmBinaryNotFound, match="no-helm"):
        await missing.status(release="demo", namespace="default")


async def test_our_timeout_kills_helm_and_leaves_no_helm_process(
    wrapper: Helm, config: HelmConfig, namespace: str, latency: ControlClient
) -> None:
    slow = Helm(dataclasses.replace(config, mutation_timeout=2.0, kill_grace=2.0))
    release = release_name("slow")
    # Every API request now takes a second: an install needs dozens of them.
    await latency.set_latency(1.0)

    started = time.monotonic()
    call = asyncio.create_task(slow.install(release=release, namespace=namespace, chart=DEMO))
    pid = await first_helm_pid(slow)
    assert await helm_processes(release)
    with pytest.raises(errors.HelmTimeout, match=r"did not finish within 2\.0s") as timed_out:
        await call
    elapsed = time.monotonic() - started

    # SIGTERM at 2 s, SIGKILL 2 s later at the latest: helm 4 answers SIGTERM by cancelling and recording the
    # release as failed, which takes many (here slow) requests. Never helm's own 60 s.
    assert 2.0 <= elapsed < 5.5
    assert timed_out.value.exit_code is None
    assert not alive(pid)
    assert await helm_processes(release) == []
    assert slow.running == {}


async def test_cancelling_a_running_install_terminates_helm_and_removes_the_values_file(
    wrapper: Helm, values_dir: Path, namespace: str, latency: ControlClient
) -> None:
    release = release_name()
    await latency.set_latency(0.5)
    call = asyncio.create_task(
        wrapper.install(release=release, namespace=namespace, chart=DEMO, values=[store_values(release)])
    )
    pid = await first_helm_pid(wrapper)
    # While helm runs, the store's values sit in a file only we can read.
    (values_file,) = values_files(values_dir)
    seen = file_mode_and_text(values_file)
    assert seen is not None
    assert seen[0] == 0o600
    assert f"id-{release}" in seen[1]
    assert f"--values={values_file}" in wrapper.running[pid]

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    assert not alive(pid)
    assert await helm_processes(release) == []
    assert file_mode_and_text(values_file) is None
    assert wrapper.running == {}


async def test_an_interrupted_upgrade_blocks_the_next_one_until_rolled_back(
    wrapper: Helm, config: HelmConfig, namespace: str, api: ApiClient, latency: ControlClient
) -> None:
    release = release_name("demo")
    await wrapper.install(release=release, namespace=namespace, chart=DEMO)
    # A helm killed mid-upgrade (as when the server is SIGKILLed) leaves the release pending-upgrade.
    await latency.set_latency(0.3)
    proc = await asyncio.create_subprocess_exec(
        config.binary,
        "upgrade",
        "-n",
        namespace,
        release,
        str(DEMO),
        env=dict(config.env or {}),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        async def pending() -> bool:
            secrets = await CoreV1Api(api).list_namespaced_secret(
                namespace, label_selector=f"owner=helm,name={release},status=pending-upgrade"
            )
            return bool(secrets.items)

        await eventually(pending, timeout=30, what="the upgrade to be recorded as pending")
    finally:
        proc.kill()
        await proc.wait()
    await latency.set_latency(0)

    assert (await wrapper.status(release=release, namespace=namespace)).status is ReleaseState.PENDING_UPGRADE
    with pytest.raises(errors.OperationInProgress) as blocked:
        await wrapper.upgrade(release=release, namespace=namespace, chart=DEMO)
    assert "another operation (install/upgrade/rollback) is in progress" in blocked.value.stderr

    await wrapper.rollback(release=release, namespace=namespace, revision=1)

    status = await wrapper.status(release=release, namespace=namespace)
    assert (status.status, status.revision) == (ReleaseState.DEPLOYED, 3)
    assert (await wrapper.upgrade(release=release, namespace=namespace, chart=DEMO)).revision == 4


CHILD = """
import asyncio, json, sys
from storeplane.k8s.helm import Helm, HelmConfig

async def main() -> None:
    spec = json.loads(sys.stdin.read())
    helm = Helm(HelmConfig(binary=spec["binary"], env=spec["env"], mutation_timeout=120.0))
    install = helm.install(release=spec["release"], namespace=spec["namespace"], chart=spec["chart"])
    call = asyncio.create_task(install)
    while not helm.running:
        await asyncio.sleep(0.01)
    print(next(iter(helm.running)), flush=True)
    await call

asyncio.run(main())
"""


async def test_helm_dies_with_the_server_process_even_when_it_is_sigkilled(
    config: HelmConfig, namespace: str, latency: ControlClient
) -> None:
    release = release_name("orphan")
    await latency.set_latency(1.0)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert server.stdin is not None
        assert server.stdout is not None
        spec = {"binary": config.binary, "env": config.env, "release": release, "namespace": namespace}
        server.stdin.write(json.dumps({**spec, "chart": str(DEMO)}).encode())
        server.stdin.close()
        helm_pid = int(await asyncio.wait_for(server.stdout.readline(), 20))
        assert alive(helm_pid)
        assert await helm_processes(release)

        # helm is in its own session: killing the server's group would not reach it; only the parent-death
        # signal does.
        os.kill(server.pid, signal.SIGKILL)
        await server.wait()

        await eventually(lambda: _dead(helm_pid), timeout=10, what="helm to die with its parent")
        assert await helm_processes(release) == []
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


async def _dead(pid: int) -> bool:
    return not alive(pid)
