"""The real helm 4 binary against kubesim: install, list, status, upgrade, history, rollback, wait, uninstall.

Every test uses its own namespace (kubesim is shared by the session) and the demo chart in `charts/demo`: a
ConfigMap, a Deployment and Service, a StatefulSet with a claim template and headless Service, and a Job.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from kubesim.client import ControlClient
from tests.helpers import REPO, Result, eventually
from tests.kube_helpers import NAMESPACE_DEFAULTS, Kube, condition

DEMO_CHART = str(REPO / "tests" / "kubesim" / "charts" / "demo")


@pytest.fixture
def kube(helm: str, kubectl: str, kube_env: dict[str, str]) -> Kube:
    return Kube(helm_bin=helm, kubectl_bin=kubectl, env=kube_env)


@pytest.fixture
async def namespace(kube: Kube) -> AsyncIterator[str]:
    """A fresh namespace name (not created: some tests let helm create it); deleted afterwards."""
    name = f"helm-{uuid.uuid4().hex[:8]}"
    yield name
    await kube.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false")


async def helm_requests(control: ControlClient, verb: str, resource: str) -> int:
    """How many `verb` requests on `resource` helm has made so far (kubesim counts them by user agent)."""
    metrics = await control.metrics()
    return sum(
        row["count"]
        for row in metrics["requests"]
        if row["verb"] == verb and row["resource"] == resource and row["userAgent"].startswith("Helm/")
    )


async def install(kube: Kube, release: str, namespace: str, *flags: str) -> Result:
    return await kube.helm("install", release, DEMO_CHART, "-n", namespace, "--create-namespace", *flags)


@pytest.mark.parametrize(
    ("mode", "apply_method", "create_verb"),
    [("true", "ssa", "patch"), ("false", "csa", "create")],
    ids=["server-side", "client-side"],
)
async def test_install_and_upgrade_apply_the_chart_in_either_apply_mode(
    kube: Kube, control: ControlClient, namespace: str, mode: str, apply_method: str, create_verb: str
) -> None:
    other_verb = "create" if create_verb == "patch" else "patch"
    created_before = await helm_requests(control, create_verb, "deployments")
    other_before = await helm_requests(control, other_verb, "deployments")

    # Server-side apply is helm 4's default: only client-side apply needs the flag.
    (await install(kube, "demo", namespace, *(() if mode == "true" else ("--server-side=false",)))).check()

    # Server-side apply creates with an apply PATCH; client-side apply with a POST.
    assert await helm_requests(control, create_verb, "deployments") == created_before + 1
    assert await helm_requests(control, other_verb, "deployments") == other_before
    metadata = await kube.helm_json("get", "metadata", "demo", "-n", namespace)
    assert (metadata["applyMethod"], metadata["revision"]) == (apply_method, 1)
    assert (await kube.get("namespace", namespace))["status"]["phase"] == "Active"
    config = await kube.get("configmap", "demo-config", "-n", namespace)
    assert config["data"] == {"message": "hello"}
    assert config["metadata"]["annotations"]["meta.helm.sh/release-name"] == "demo"
    assert config["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    web = await kube.get("deployment", "demo-web", "-n", namespace)
    assert web["metadata"]["generation"] == 1
    assert (await kube.get("service", "demo-web", "-n", namespace))["spec"]["clusterIP"]
    (await kube.kubectl("get", "statefulset/demo-db", "job/demo-setup", "-n", namespace)).check()

    upgrade = await kube.helm(
        "upgrade",
        "demo",
        DEMO_CHART,
        "-n",
        namespace,
        f"--server-side={mode}",
        "--set",
        "message=changed",
        "--set",
        "web.replicas=2",
        "--set",
        "job.enabled=false",
        "--wait",
        "--timeout",
        "30s",
    )
    upgrade.check()

    metadata = await kube.helm_json("get", "metadata", "demo", "-n", namespace)
    assert (metadata["applyMethod"], metadata["revision"]) == (apply_method, 2)
    config = await kube.get("configmap", "demo-config", "-n", namespace)
    assert config["data"] == {"message": "changed"}
    upgraded = await kube.get("deployment", "demo-web", "-n", namespace)
    assert upgraded["spec"]["replicas"] == 2
    assert upgraded["metadata"]["generation"] == 2
    old_checksum = web["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert upgraded["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != old_checksum
    assert upgraded["status"]["observedGeneration"] == 2
    assert upgraded["status"]["readyReplicas"] == 2
    # The Job left the chart, so the upgrade deleted it.
    gone = await kube.kubectl("get", "job", "demo-setup", "-n", namespace)
    assert gone.returncode != 0
    assert 'jobs.batch "demo-setup" not found' in gone.stderr


async def test_list_shows_a_namespaces_releases_and_list_all_shows_every_namespace(
    kube: Kube, namespace: str
) -> None:
    other = f"{namespace}-b"
    try:
        (await install(kube, "first", namespace, "--set", "job.enabled=false")).check()
        (await install(kube, "second", other, "--set", "job.enabled=false")).check()

        here = await kube.helm_json("list", "-n", namespace)
        assert [(r["name"], r["namespace"], r["status"], r["revision"]) for r in here] == [
            ("first", namespace, "deployed", "1")
        ]
        assert here[0]["chart"] == "demo-0.1.0"
        everywhere = await kube.helm_json("list", "-A")
        mine = {(r["name"], r["namespace"]) for r in everywhere if r["namespace"] in (namespace, other)}
        assert mine == {("first", namespace), ("second", other)}

        status = await kube.helm_json("status", "second", "-n", other)
        assert (status["name"], status["namespace"], status["version"]) == ("second", other, 1)
        assert status["info"]["status"] == "deployed"
        assert status["info"]["description"] == "Install complete"
    finally:
        await kube.kubectl("delete", "namespace", other, "--ignore-not-found", "--wait=false")


async def test_history_lists_revisions_and_rollback_restores_the_previous_values(
    kube: Kube, namespace: str
) -> None:
    (await install(kube, "demo", namespace, "--set", "job.enabled=false")).check()
    upgrade = await kube.helm(
        "upgrade", "demo", DEMO_CHART, "-n", namespace, "--reuse-values", "--set", "message=second"
    )
    upgrade.check()
    assert (await kube.get("configmap", "demo-config", "-n", namespace))["data"]["message"] == "second"

    history = await kube.helm_json("history", "demo", "-n", namespace)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]

    (await kube.helm("rollback", "demo", "1", "-n", namespace, "--wait", "--timeout", "30s")).check()

    assert (await kube.get("configmap", "demo-config", "-n", namespace))["data"]["message"] == "hello"
    history = await kube.helm_json("history", "demo", "-n", namespace)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    assert history[-1]["description"] == "Rollback to 1"
    web = await kube.get("deployment", "demo-web", "-n", namespace)
    assert web["status"]["observedGeneration"] == web["metadata"]["generation"] == 3


@pytest.mark.parametrize(
    "wait",
    [("--wait",), ("--wait", "--wait-for-jobs"), ("--wait=legacy",), ("--wait=legacy", "--wait-for-jobs")],
    ids=["watcher", "watcher-jobs", "legacy", "legacy-jobs"],
)
async def test_install_wait_succeeds_once_pods_become_ready(
    kube: Kube, namespace: str, wait: Sequence[str]
) -> None:
    (await install(kube, "demo", namespace, *wait, "--timeout", "30s")).check()

    # helm returned only after the workloads were ready, so no polling is needed here.
    web = await kube.get("deployment", "demo-web", "-n", namespace)
    assert condition(web, "Available") == "True"
    assert web["status"]["availableReplicas"] == web["spec"]["replicas"] == 1
    db = await kube.get("statefulset", "demo-db", "-n", namespace)
    assert db["status"]["readyReplicas"] == 1
    claim = await kube.get("pvc", "data-demo-db-0", "-n", namespace)
    assert claim["status"]["phase"] == "Bound"
    if "--wait-for-jobs" in wait:
        job = await kube.get("job", "demo-setup", "-n", namespace)
        assert condition(job, "Complete") == "True"
        assert job["status"]["succeeded"] == 1
    assert (await kube.helm_json("status", "demo", "-n", namespace))["info"]["status"] == "deployed"


@pytest.mark.parametrize(
    ("wait", "reported"),
    [
        # The watcher names every workload that is not ready; the legacy waiter only logs them with --debug.
        ("--wait", ["Deployment/{ns}/demo-web not ready", "StatefulSet/{ns}/demo-db not ready"]),
        ("--wait=legacy", []),
    ],
    ids=["watcher", "legacy"],
)
async def test_install_wait_fails_after_the_timeout_when_a_pod_never_becomes_ready(
    kube: Kube, control: ControlClient, namespace: str, wait: str, reported: list[str]
) -> None:
    await control.add_fault("never-ready", namespace=namespace)

    started = time.monotonic()
    result = await install(kube, "demo", namespace, wait, "--timeout", "3s")
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert elapsed >= 3.0
    assert "INSTALLATION FAILED" in result.stderr
    assert "context deadline exceeded" in result.stderr
    for line in reported:
        assert line.format(ns=namespace) in result.stderr
    assert (await kube.helm_json("status", "demo", "-n", namespace))["info"]["status"] == "failed"
    web = await kube.get("deployment", "demo-web", "-n", namespace)
    assert condition(web, "Available") == "False"


async def test_install_wait_for_jobs_fails_when_the_job_fails(
    kube: Kube, control: ControlClient, namespace: str
) -> None:
    await control.add_fault("fail-job", namespace=namespace)

    result = await install(kube, "demo", namespace, "--wait", "--wait-for-jobs", "--timeout", "20s")

    assert result.returncode != 0
    assert f"Job/{namespace}/demo-setup not ready. status: Failed" in result.stderr
    job = await kube.get("job", "demo-setup", "-n", namespace)
    assert condition(job, "Failed") == "True"
    assert condition(job, "Complete") is None
    assert (await kube.helm_json("status", "demo", "-n", namespace))["info"]["status"] == "failed"


@pytest.mark.parametrize(
    "flags",
    [(), ("--wait",), ("--wait", "--cascade=foreground")],
    ids=["no-wait", "wait", "wait-foreground"],
)
async def test_uninstall_leaves_nothing_of_the_release_and_namespace_deletion_removes_the_rest(
    kube: Kube, namespace: str, flags: Sequence[str]
) -> None:
    (await install(kube, "demo", namespace, "--wait", "--wait-for-jobs", "--timeout", "30s")).check()
    claim = await kube.get("pvc", "data-demo-db-0", "-n", namespace)
    volume = claim["spec"]["volumeName"]
    release_secrets = ("secrets", "-n", namespace, "-l", "owner=helm,name=demo")
    assert len((await kube.get(*release_secrets))["items"]) == 1

    (await kube.helm("uninstall", "demo", "-n", namespace, *flags, "--timeout", "30s")).check()

    # A StatefulSet's claims outlive it (persistentVolumeClaimRetentionPolicy defaults to Retain).
    retained = {"PersistentVolumeClaim/data-demo-db-0"}
    if "--cascade=foreground" in flags:
        # Foreground deletion holds each owner until its dependents are gone, and --wait waits for the owners.
        assert await kube.objects(namespace) - NAMESPACE_DEFAULTS == retained
    else:

        async def only_retained() -> bool:
            return await kube.objects(namespace) - NAMESPACE_DEFAULTS == retained

        await eventually(only_retained, timeout=10, what=f"only {retained} left in {namespace}")
    assert (await kube.get(*release_secrets))["items"] == []
    forgotten = await kube.helm("status", "demo", "-n", namespace)
    assert forgotten.returncode != 0
    assert "release: not found" in forgotten.stderr

    deleted = await kube.kubectl("delete", "namespace", namespace, "--timeout=30s")
    deleted.check()
    missing = await kube.kubectl("get", "namespace", namespace)
    assert missing.returncode != 0
    assert f'namespaces "{namespace}" not found' in missing.stderr
    # The claim went with the namespace and its volume with the claim (reclaimPolicy Delete).
    missing_volume = await kube.kubectl("get", "pv", volume)
    assert f'persistentvolumes "{volume}" not found' in missing_volume.stderr
