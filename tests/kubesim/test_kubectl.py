"""The real kubectl against kubesim: get, apply (client- and server-side), delete, wait, rollout, events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesim.client import ControlClient
from tests.helpers import Result, eventually, run

# Seconds any single kubectl call may take before the test fails (each takes well under one here).
CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Kubectl:
    """kubectl pointed at the session's kubesim, always in one namespace unless told otherwise."""

    binary: str
    env: dict[str, str]
    namespace: str

    async def __call__(self, *args: str, stdin: str | None = None) -> Result:
        return await run(
            [self.binary, "-n", self.namespace, *args],
            env=self.env,
            timeout=CALL_TIMEOUT,
            stdin=stdin.encode() if stdin is not None else None,
        )

    async def get(self, *args: str) -> Any:
        return json.loads((await self("get", *args, "-o", "json")).check().stdout)

    async def apply(self, *manifests: dict[str, Any], server_side: bool = False) -> Result:
        args = ["apply", "-f", "-"] + (["--server-side"] if server_side else [])
        return (await self(*args, stdin=yaml.safe_dump_all(manifests))).check()


@pytest.fixture
async def kubectl_ns(kubectl: str, kube_env: dict[str, str]) -> AsyncIterator[Kubectl]:
    """kubectl bound to a fresh namespace, created by `kubectl create namespace` and deleted afterwards."""
    namespace = f"kubectl-{uuid.uuid4().hex[:8]}"
    cli = Kubectl(binary=kubectl, env=kube_env, namespace=namespace)
    created = (await cli("create", "namespace", namespace)).check()
    assert created.stdout.strip() == f"namespace/{namespace} created"
    yield cli
    await cli("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def deployment(name: str, *, replicas: int = 1, image: str = "nginx:1.27.3", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, **labels}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "run", "image": "busybox:1.37.0", "command": ["true"]}],
                }
            },
        },
    }


def config_map(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


def condition(obj: dict[str, Any], type_: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond["type"] == type_:
            return str(cond["status"])
    return None


async def test_get_prints_one_object_or_a_list_as_json(kubectl_ns: Kubectl) -> None:
    await kubectl_ns.apply(deployment("web"))

    one = await kubectl_ns.get("deployment", "web")
    assert (one["apiVersion"], one["kind"]) == ("apps/v1", "Deployment")
    assert one["metadata"]["namespace"] == kubectl_ns.namespace
    assert one["metadata"]["uid"]
    listed = await kubectl_ns.get("deployments")
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["web"]
    missing = await kubectl_ns("get", "deployment", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'


async def test_get_prints_the_servers_table_columns(kubectl_ns: Kubectl) -> None:
    await kubectl_ns.apply(deployment("web", replicas=2))
    (await kubectl_ns("rollout", "status", "deployment/web", "--timeout=20s")).check()

    # kubectl asks for a meta.k8s.io Table and prints the columns the API server chose for the type.
    deployments = (await kubectl_ns("get", "deployments")).check().stdout.splitlines()
    assert deployments[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deployments[1].split()[:4] == ["web", "2/2", "2", "2"]
    pods = (await kubectl_ns("get", "pods")).check().stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [line.split()[1:4] for line in pods[1:]] == [["1/1", "Running", "0"]] * 2


async def test_apply_creates_then_updates_client_side_then_server_side(kubectl_ns: Kubectl) -> None:
    manifest = deployment("web", tier="front", team="shop")
    created = await kubectl_ns.apply(manifest)
    assert created.stdout.strip() == "deployment.apps/web created"
    live = await kubectl_ns.get("deployment", "web")
    last_applied = json.loads(
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last_applied["spec"]["replicas"] == 1
    assert live["metadata"]["generation"] == 1

    unchanged = await kubectl_ns.apply(manifest)
    assert unchanged.stdout.strip() == "deployment.apps/web unchanged"

    # Client-side apply diffs against last-applied-configuration: a label left out of the file is removed.
    changed = deployment("web", replicas=3, tier="front")
    configured = await kubectl_ns.apply(changed)
    assert configured.stdout.strip() == "deployment.apps/web configured"
    live = await kubectl_ns.get("deployment", "web")
    assert live["spec"]["replicas"] == 3
    assert live["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert live["metadata"]["generation"] == 2

    server_side = deployment("web", replicas=3, image="nginx:1.27.4", tier="front")
    applied = await kubectl_ns.apply(server_side, server_side=True)
    assert applied.stdout.strip() == "deployment.apps/web serverside-applied"
    live = await kubectl_ns.get("deployment", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27.4"
    assert live["metadata"]["generation"] == 3

    created_by_ssa = await kubectl_ns.apply(config_map("settings", tier="front"), server_side=True)
    assert created_by_ssa.stdout.strip() == "configmap/settings serverside-applied"
    assert (await kubectl_ns.get("configmap", "settings"))["metadata"]["labels"] == {"tier": "front"}


async def test_delete_removes_the_object_and_garbage_collects_its_pods(kubectl_ns: Kubectl) -> None:
    await kubectl_ns.apply(deployment("web", replicas=2))
    (await kubectl_ns("wait", "--for=condition=Available", "deployment/web", "--timeout=20s")).check()
    assert len((await kubectl_ns.get("pods", "-l", "app=web"))["items"]) == 2

    deleted = (await kubectl_ns("delete", "deployment", "web")).check()

    assert deleted.stdout.strip() == f'deployment.apps "web" deleted from {kubectl_ns.namespace} namespace'
    missing = await kubectl_ns("get", "deployment", "web")
    assert 'deployments.apps "web" not found' in missing.stderr

    async def no_pods_or_replicasets() -> bool:
        items: list[Any] = (await kubectl_ns.get("pods,replicasets", "-l", "app=web"))["items"]
        return items == []

    await eventually(no_pods_or_replicasets, timeout=10, what="web's ReplicaSet and pods to be collected")


async def test_scale_changes_the_replica_count_through_the_scale_subresource(kubectl_ns: Kubectl) -> None:
    await kubectl_ns.apply(deployment("web"))

    # kubectl scale PATCHes deployments/web/scale (an autoscaling/v1 Scale), never the Deployment itself.
    scaled = await kubectl_ns("scale", "deployment/web", "--replicas=3")

    assert scaled.check().stdout.strip() == "deployment.apps/web scaled"
    (await kubectl_ns("rollout", "status", "deployment/web", "--timeout=20s")).check()
    web = await kubectl_ns.get("deployment", "web")
    assert web["spec"]["replicas"] == web["status"]["readyReplicas"] == 3


async def test_discovery_is_two_aggregated_requests_on_an_empty_cache(
    kubectl_ns: Kubectl, control: ControlClient, tmp_path: Path
) -> None:
    async def discovery_requests() -> int:
        rows = (await control.metrics())["requests"]
        return sum(r["count"] for r in rows if r["resource"] == "discovery" and r["userAgent"] == agent)

    version = json.loads((await kubectl_ns("version", "--client", "-o", "json")).check().stdout)
    agent = f"kubectl/{version['clientVersion']['gitVersion']}"
    before = await discovery_requests()
    # /api and /apis answer every resource at once (aggregated discovery), so kubectl asks no group version.
    listed = (await kubectl_ns("api-resources", "-o", "name", f"--cache-dir={tmp_path}")).check()
    assert await discovery_requests() == before + 2
    names = listed.stdout.split()
    assert {"pods", "deployments.apps", "jobs.batch", "ingresses.networking.k8s.io"} <= set(names)
    assert not any("/" in name for name in names)  # subresources are not resources


async def test_wait_for_available_and_complete_conditions(kubectl_ns: Kubectl) -> None:
    await kubectl_ns.apply(deployment("web", replicas=2), job("once"))

    available = await kubectl_ns("wait", "--for=condition=Available", "deployment/web", "--timeout=20s")
    assert available.check().stdout.strip() == "deployment.apps/web condition met"
    web = await kubectl_ns.get("deployment", "web")
    assert web["status"]["availableReplicas"] == 2

    complete = await kubectl_ns("wait", "--for=condition=complete", "job/once", "--timeout=20s")
    assert complete.check().stdout.strip() == "job.batch/once condition met"
    assert (await kubectl_ns.get("job", "once"))["status"]["succeeded"] == 1


async def test_wait_times_out_when_a_deployment_never_becomes_available(
    kubectl_ns: Kubectl, control: ControlClient
) -> None:
    await control.add_fault("never-ready", namespace=kubectl_ns.namespace)
    await kubectl_ns.apply(deployment("web"))

    result = await kubectl_ns("wait", "--for=condition=Available", "deployment/web", "--timeout=2s")

    assert result.returncode != 0
    assert "timed out waiting for the condition on deployments/web" in result.stderr
    assert condition(await kubectl_ns.get("deployment", "web"), "Available") == "False"


async def test_wait_for_delete_returns_once_the_last_finalizer_is_removed(kubectl_ns: Kubectl) -> None:
    held = config_map("held")
    held["metadata"]["finalizers"] = ["storeplane.io/test"]
    await kubectl_ns.apply(held)
    (await kubectl_ns("delete", "configmap", "held", "--wait=false")).check()
    assert (await kubectl_ns.get("configmap", "held"))["metadata"]["deletionTimestamp"]

    still_there = await kubectl_ns("wait", "--for=delete", "configmap/held", "--timeout=1s")
    assert still_there.returncode != 0

    waiting = asyncio.create_task(kubectl_ns("wait", "--for=delete", "configmap/held", "--timeout=20s"))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    patch = json.dumps({"metadata": {"finalizers": None}})
    (await kubectl_ns("patch", "configmap", "held", "--type=merge", "-p", patch)).check()

    assert (await waiting).returncode == 0
    missing = await kubectl_ns("get", "configmap", "held")
    assert 'configmaps "held" not found' in missing.stderr


async def test_rollout_status_follows_a_deployment_update_to_the_end(kubectl_ns: Kubectl) -> None:
    await kubectl_ns.apply(deployment("web", replicas=2))
    first = await kubectl_ns("rollout", "status", "deployment/web", "--timeout=20s")
    assert 'deployment "web" successfully rolled out' in first.check().stdout

    await kubectl_ns.apply(deployment("web", replicas=2, image="nginx:1.27.4"))
    second = await kubectl_ns("rollout", "status", "deployment/web", "--timeout=20s")

    assert second.check().stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'
    web = await kubectl_ns.get("deployment", "web")
    assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert web["status"]["updatedReplicas"] == web["status"]["availableReplicas"] == 2
    sets = (await kubectl_ns.get("replicasets", "-l", "app=web"))["items"]
    by_image = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in sets}
    assert by_image["nginx:1.27.3"]["spec"]["replicas"] == 0
    assert by_image["nginx:1.27.4"]["status"]["readyReplicas"] == 2
    pods = (await kubectl_ns.get("pods", "-l", "app=web"))["items"]
    running = [p for p in pods if "deletionTimestamp" not in p["metadata"]]
    assert {p["spec"]["containers"][0]["image"] for p in running} == {"nginx:1.27.4"}


async def test_get_events_lists_what_the_kubelet_and_controllers_recorded(kubectl_ns: Kubectl) -> None:
    # An image no earlier test used: the node has not pulled it yet, so the kubelet reports Pulling too.
    await kubectl_ns.apply(deployment("web", image=f"registry.example/web:{uuid.uuid4().hex[:8]}"))
    (await kubectl_ns("wait", "--for=condition=Ready", "pod", "-l", "app=web", "--timeout=20s")).check()
    pod = (await kubectl_ns.get("pods", "-l", "app=web"))["items"][0]["metadata"]["name"]

    events = (await kubectl_ns.get("events"))["items"]
    recorded = {(e["involvedObject"]["kind"], e["reason"]) for e in events}
    assert {
        ("Deployment", "ScalingReplicaSet"),
        ("ReplicaSet", "SuccessfulCreate"),
        ("Pod", "Scheduled"),
        ("Pod", "Pulling"),
        ("Pod", "Pulled"),
        ("Pod", "Created"),
        ("Pod", "Started"),
    } <= recorded
    for_pod = await kubectl_ns.get("events", "--field-selector", f"involvedObject.name={pod}")
    assert {e["involvedObject"]["name"] for e in for_pod["items"]} == {pod}
    table = (await kubectl_ns("get", "events")).check().stdout.splitlines()
    assert table[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any(line.split()[1:4] == ["Normal", "Scheduled", f"pod/{pod}"] for line in table[1:])


async def test_label_selectors_pick_exactly_the_matching_objects(kubectl_ns: Kubectl) -> None:
    await kubectl_ns.apply(
        config_map("a", tier="front", team="shop"),
        config_map("b", tier="back", team="shop"),
        config_map("c", tier="cache"),
        config_map("d"),
    )

    async def names(selector: str) -> set[str]:
        items = (await kubectl_ns.get("configmaps", "-l", selector))["items"]
        return {item["metadata"]["name"] for item in items} - {"kube-root-ca.crt"}

    assert await names("tier=front") == {"a"}
    assert await names("tier!=front") == {"b", "c", "d"}
    assert await names("tier in (front,back)") == {"a", "b"}
    assert await names("tier notin (front,back)") == {"c", "d"}
    assert await names("tier") == {"a", "b", "c"}
    assert await names("!tier") == {"d"}
    assert await names("team=shop,tier!=back") == {"a"}


async def test_deleting_a_namespace_removes_it_and_its_contents(kubectl_ns: Kubectl) -> None:
    namespace = kubectl_ns.namespace
    assert (await kubectl_ns.get("namespace", namespace))["status"]["phase"] == "Active"
    await kubectl_ns.apply(deployment("web"), config_map("settings"))
    (await kubectl_ns("wait", "--for=condition=Available", "deployment/web", "--timeout=20s")).check()

    # kubectl waits until the namespace is gone (its contents purged, its finalizer cleared).
    deleted = (await kubectl_ns("delete", "namespace", namespace, "--timeout=30s")).check()

    assert deleted.stdout.strip() == f'namespace "{namespace}" deleted'
    missing = await kubectl_ns("get", "namespace", namespace)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f'Error from server (NotFound): namespaces "{namespace}" not found'
    assert (await kubectl_ns.get("pods"))["items"] == []
