"""The simulated controllers, driven in-process through the object store (no HTTP server involved)."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kubesim.controllers import Controllers
from kubesim.faults import Faults, Rule
from kubesim.object_store import Change, Obj, ObjectStore
from kubesim.resources import ResourceType, resource
from kubesim.settings import Delays, Settings

NAMESPACES = resource("", "namespaces")
NODES = resource("", "nodes")
PODS = resource("", "pods")
EVENTS = resource("", "events")
SERVICES = resource("", "services")
ENDPOINTS = resource("", "endpoints")
CONFIG_MAPS = resource("", "configmaps")
SECRETS = resource("", "secrets")
SERVICE_ACCOUNTS = resource("", "serviceaccounts")
CLAIMS = resource("", "persistentvolumeclaims")
VOLUMES = resource("", "persistentvolumes")
DEPLOYMENTS = resource("apps", "deployments")
REPLICASETS = resource("apps", "replicasets")
STATEFULSETS = resource("apps", "statefulsets")
REVISIONS = resource("apps", "controllerrevisions")
JOBS = resource("batch", "jobs")
STORAGE_CLASSES = resource("storage.k8s.io", "storageclasses")
INGRESS_CLASSES = resource("networking.k8s.io", "ingressclasses")

FAST = Delays(
    schedule=0.005,
    image_pull=0.005,
    container_start=0.005,
    readiness=0.01,
    job_run=0.02,
    pvc_bind=0.005,
    pod_termination=0.01,
    namespace_finalize=0.01,
    crash_restart=0.02,
)
WAIT = 5.0  # seconds any single expectation may take before a test fails
NAME_CHARS = "[bcdfghjklmnpqrstvwxz2456789]"


@dataclass
class Cluster:
    object_store: ObjectStore
    faults: Faults
    controllers: Controllers

    def namespace(self, name: str) -> str:
        self.object_store.create(NAMESPACES, "", {"metadata": {"name": name}})
        return name

    def events(self, namespace: str, *, name: str | None = None, reason: str | None = None) -> list[Obj]:
        return [
            e
            for e in self.object_store.items(EVENTS, namespace)
            if (name is None or e["involvedObject"]["name"] == name)
            and (reason is None or e["reason"] == reason)
        ]

    def pods(self, namespace: str) -> list[Obj]:
        return sorted(self.object_store.items(PODS, namespace), key=lambda p: str(p["metadata"]["name"]))

    def live(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.object_store.peek(rt, namespace, name)
        assert obj is not None, f"{rt.plural} {namespace}/{name} is missing"
        return obj

    async def wait_for(
        self, rt: ResourceType, namespace: str, name: str, ready: Callable[[Obj], bool], *, what: str = ""
    ) -> Obj:
        """Poll an object until `ready(obj)` holds; returns it."""
        found: list[Obj] = []

        def check() -> bool:
            obj = self.object_store.peek(rt, namespace, name)
            if obj is not None and ready(obj):
                found.append(obj)
                return True
            return False

        await eventually(check, what=what or f"{rt.plural} {namespace}/{name}")
        return found[0]


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    settings = Settings(delays=FAST)
    object_store = ObjectStore(settings)
    faults = Faults()
    controllers = Controllers(object_store, settings, faults)
    await controllers.start()
    try:
        yield Cluster(object_store=object_store, faults=faults, controllers=controllers)
    finally:
        await controllers.stop()


async def eventually(check: Callable[[], object], *, within: float = WAIT, what: str = "condition") -> None:
    """Poll `check` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def condition(obj: Obj | None, type_: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return {}


def is_true(type_: str) -> Callable[[Obj], bool]:
    return lambda obj: condition(obj, type_).get("status") == "True"


def status_is(**fields: Any) -> Callable[[Obj], bool]:
    return lambda obj: all((obj.get("status") or {}).get(k) == v for k, v in fields.items())


def template(app: str, image: str) -> dict[str, Any]:
    container = {"name": app, "image": image, "ports": [{"name": "http", "containerPort": 80}]}
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [container]}}


def deployment(name: str, *, replicas: int = 1, image: str = "nginx:1.27", **spec: Any) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, image),
            **spec,
        },
    }


def statefulset(name: str, *, replicas: int, image: str = "mariadb:11.4", **spec: Any) -> Obj:
    claim = {
        "metadata": {"name": "data", "labels": {"tier": "storage"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
    }
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, image),
            "volumeClaimTemplates": [claim],
            **spec,
        },
    }


def job(name: str, **spec: Any) -> Obj:
    pod_spec = {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}
    return {"metadata": {"name": name}, "spec": {"template": {"spec": pod_spec}, **spec}}


def pod(name: str, image: str = "nginx:1.27", **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": image}], **spec}}


def replace(
    object_store: ObjectStore, rt: ResourceType, namespace: str, name: str, change: Callable[[Obj], None]
) -> Obj:
    """A client's read-modify-write (PUT) of an object."""
    body = copy.deepcopy(object_store.peek(rt, namespace, name))
    assert body is not None
    change(body)
    return object_store.replace(rt, namespace, name, body)


def record_changes(object_store: ObjectStore) -> list[Change]:
    changes: list[Change] = []
    object_store.add_listener(changes.append)
    return changes


def first_status(pod_obj: Obj) -> dict[str, Any]:
    statuses = (pod_obj.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


# -- the fresh cluster -------------------------------------------------------------------------------


async def test_a_fresh_cluster_has_system_namespaces_a_ready_node_and_default_classes(
    cluster: Cluster,
) -> None:
    object_store = cluster.object_store
    names = {n["metadata"]["name"] for n in object_store.items(NAMESPACES)}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    assert all(n["status"]["phase"] == "Active" for n in object_store.items(NAMESPACES))
    node = cluster.live(NODES, "", "kubesim-node")
    assert condition(node, "Ready")["status"] == "True"
    assert node["status"]["allocatable"]["pods"] == "110"
    storage_class = cluster.live(STORAGE_CLASSES, "", "standard")
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class["provisioner"] == "kubesim.io/local"
    assert object_store.peek(INGRESS_CLASSES, "", "nginx") is not None


async def test_every_namespace_gets_a_default_service_account_and_the_root_ca(cluster: Cluster) -> None:
    object_store = cluster.object_store
    for ns in ("default", "kube-system", cluster.namespace("shop")):
        await cluster.wait_for(SERVICE_ACCOUNTS, ns, "default", lambda sa: True)
        root_ca = await cluster.wait_for(CONFIG_MAPS, ns, "kube-root-ca.crt", lambda cm: True)
        assert root_ca["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    object_store.delete(SERVICE_ACCOUNTS, "shop", "default")
    await cluster.wait_for(SERVICE_ACCOUNTS, "shop", "default", lambda sa: True, what="the SA recreated")


# -- pods --------------------------------------------------------------------------------------------


async def test_a_pod_is_scheduled_pulled_and_started_with_the_kubelet_events(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("pods")
    init = {"name": "init", "image": "busybox:1.36"}
    object_store.create(PODS, ns, pod("db", "mariadb:11.4", initContainers=[init]))
    ready = await cluster.wait_for(PODS, ns, "db", is_true("Ready"))
    status = ready["status"]
    assert ready["spec"]["nodeName"] == "kubesim-node"
    assert status["phase"] == "Running"
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"]
    assert status["startTime"]
    assert [c["type"] for c in status["conditions"]] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert all(c["status"] == "True" and c["lastTransitionTime"] for c in status["conditions"])
    [container] = status["containerStatuses"]
    assert container["name"] == "c"
    assert container["image"] == "docker.io/library/mariadb:11.4"
    assert re.fullmatch(r"docker\.io/library/mariadb@sha256:[0-9a-f]{64}", container["imageID"])
    assert re.fullmatch(r"containerd://[0-9a-f]{64}", container["containerID"])
    assert (container["ready"], container["started"], container["restartCount"]) == (True, True, 0)
    assert container["state"]["running"]["startedAt"]
    assert container["lastState"] == {}
    [init_status] = status["initContainerStatuses"]
    assert init_status["state"]["terminated"]["reason"] == "Completed"
    assert init_status["state"]["terminated"]["exitCode"] == 0

    def messages(reason: str, field_path: str | None = None) -> list[str]:
        return [
            e["message"]
            for e in cluster.events(ns, name="db", reason=reason)
            if field_path is None or e["involvedObject"].get("fieldPath") == field_path
        ]

    assert messages("Scheduled") == ["Successfully assigned pods/db to kubesim-node"]
    assert cluster.events(ns, reason="Scheduled")[0]["source"]["component"] == "default-scheduler"
    assert messages("Pulling", "spec.containers{c}") == ['Pulling image "mariadb:11.4"']
    [pulled] = messages("Pulled", "spec.containers{c}")
    assert pulled.startswith('Successfully pulled image "mariadb:11.4" in ')
    assert messages("Created", "spec.containers{c}") == ["Created container: c"]
    assert messages("Started", "spec.containers{c}") == ["Started container c"]
    assert messages("Started", "spec.initContainers{init}") == ["Started container init"]
    assert all(e["source"]["component"] == "kubelet" for e in cluster.events(ns, reason="Started"))

    object_store.delete(PODS, ns, "db")
    assert object_store.peek(PODS, ns, "db") is not None, "a scheduled pod terminates gracefully"
    await eventually(lambda: object_store.peek(PODS, ns, "db") is None, what="the kubelet to remove the pod")
    assert messages("Killing") == ["Stopping container c"]


async def test_a_bare_pod_that_never_restarts_runs_to_completion(cluster: Cluster) -> None:
    ns = cluster.namespace("once")
    cluster.object_store.create(PODS, ns, pod("test", restartPolicy="Never"))
    done = await cluster.wait_for(PODS, ns, "test", status_is(phase="Succeeded"))
    assert first_status(done)["state"]["terminated"]["reason"] == "Completed"
    ready = condition(done, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")


async def test_never_ready_fault_keeps_the_pod_running_but_unready(cluster: Cluster) -> None:
    ns = cluster.namespace("stuck")
    cluster.faults.add(Rule(action="never-ready", namespace=ns, name="web"))
    cluster.object_store.create(DEPLOYMENTS, ns, deployment("web"))
    await eventually(lambda: cluster.events(ns, reason="Unhealthy"), what="an Unhealthy event")
    await asyncio.sleep(0.1)
    [running] = cluster.pods(ns)
    assert running["status"]["phase"] == "Running"
    assert condition(running, "Ready")["status"] == "False"
    assert first_status(running)["ready"] is False
    [unhealthy] = cluster.events(ns, reason="Unhealthy")
    assert unhealthy["type"] == "Warning"
    assert unhealthy["message"].startswith("Readiness probe failed: ")
    web = cluster.live(DEPLOYMENTS, ns, "web")
    assert web["status"]["unavailableReplicas"] == 1
    assert condition(web, "Available")["status"] == "False"


async def test_a_cleared_never_ready_fault_lets_the_next_probe_pass(cluster: Cluster) -> None:
    ns = cluster.namespace("recovers")
    cluster.faults.add(Rule(action="never-ready", namespace=ns, name="web"))
    web = deployment("web")
    web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"periodSeconds": 0.2}
    cluster.object_store.create(DEPLOYMENTS, ns, web)
    await eventually(lambda: cluster.events(ns, reason="Unhealthy"), what="an Unhealthy event")
    cluster.faults.clear()
    await cluster.wait_for(
        DEPLOYMENTS, ns, "web", lambda d: condition(d, "Available").get("status") == "True"
    )
    [pod] = cluster.pods(ns)
    assert condition(pod, "Ready")["status"] == "True"


async def test_crash_loop_fault_restarts_the_container_with_backoff_events(cluster: Cluster) -> None:
    ns = cluster.namespace("crashy")
    cluster.faults.add(Rule(action="crash-loop", namespace=ns, name="web"))
    cluster.object_store.create(DEPLOYMENTS, ns, deployment("web"))
    await eventually(
        lambda: any(first_status(p).get("restartCount", 0) >= 2 for p in cluster.pods(ns)),
        what="two restarts",
    )
    [crashing] = cluster.pods(ns)
    container = first_status(crashing)
    assert container["ready"] is False
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert container["lastState"]["terminated"]["reason"] == "Error"
    assert crashing["status"]["phase"] == "Running"
    assert condition(crashing, "Ready")["status"] == "False"
    await eventually(lambda: any(int(e["count"]) >= 2 for e in cluster.events(ns, reason="BackOff")))
    [backoff] = cluster.events(ns, reason="BackOff")
    assert backoff["type"] == "Warning"
    pod_id = f"{crashing['metadata']['name']}_{ns}({crashing['metadata']['uid']})"
    assert backoff["message"] == f"Back-off restarting failed container web in pod {pod_id}"
    await eventually(
        lambda: any(
            first_status(p)["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"
            for p in cluster.pods(ns)
        ),
        what="CrashLoopBackOff",
    )


async def test_image_pull_error_leaves_the_pod_pending_with_err_image_pull(cluster: Cluster) -> None:
    ns = cluster.namespace("pull")
    cluster.faults.add(Rule(action="image-pull-error", namespace=ns))
    cluster.object_store.create(PODS, ns, pod("p", "nope:1"))

    def waiting(reason: str) -> Callable[[Obj], bool]:
        return lambda p: first_status(p).get("state", {}).get("waiting", {}).get("reason") == reason

    await cluster.wait_for(PODS, ns, "p", waiting("ErrImagePull"))
    pending = await cluster.wait_for(PODS, ns, "p", waiting("ImagePullBackOff"))
    assert pending["status"]["phase"] == "Pending"
    assert first_status(pending)["imageID"] == ""
    failed = cluster.events(ns, reason="Failed")
    assert {e["message"] for e in failed} >= {"Error: ErrImagePull", "Error: ImagePullBackOff"}
    assert all(e["type"] == "Warning" for e in failed)


# -- deployments -------------------------------------------------------------------------------------


async def test_deployment_becomes_available_with_the_status_helm_and_kstatus_read(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("web")
    object_store.create(DEPLOYMENTS, ns, deployment("web", replicas=2))
    web = await cluster.wait_for(
        DEPLOYMENTS,
        ns,
        "web",
        lambda d: condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable",
    )
    status = web["status"]
    assert status["observedGeneration"] == web["metadata"]["generation"]
    counts = [status[k] for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")]
    assert counts == [2, 2, 2, 2]
    assert "unavailableReplicas" not in status
    available = condition(web, "Available")
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
    assert condition(web, "Progressing")["status"] == "True"
    assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"

    [rs] = object_store.items(REPLICASETS, ns)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert re.fullmatch(f"{NAME_CHARS}{{10}}", pod_hash)
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": web["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    # helm's legacy waiter finds the new ReplicaSet by its template, ignoring pod-template-hash.
    rs_template = copy.deepcopy(rs["spec"]["template"])
    del rs_template["metadata"]["labels"]["pod-template-hash"]
    assert rs_template == web["spec"]["template"]
    assert rs["status"] == {
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "observedGeneration": rs["metadata"]["generation"],
    }
    pods = cluster.pods(ns)
    assert len(pods) == 2
    for p in pods:
        assert re.fullmatch(f"web-{pod_hash}-{NAME_CHARS}{{5}}", p["metadata"]["name"])
        assert p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert p["metadata"]["labels"]["pod-template-hash"] == pod_hash
        assert condition(p, "Ready")["status"] == "True"
        assert re.fullmatch(r"docker\.io/library/nginx@sha256:[0-9a-f]{64}", first_status(p)["imageID"])

    scaled = cluster.events(ns, name="web", reason="ScalingReplicaSet")
    assert [e["message"] for e in scaled] == [f"Scaled up replica set web-{pod_hash} to 2 from 0"]
    assert scaled[0]["source"]["component"] == "deployment-controller"
    created = cluster.events(ns, name=rs["metadata"]["name"], reason="SuccessfulCreate")
    assert sorted(e["message"] for e in created) == sorted(
        f"Created pod: {p['metadata']['name']}" for p in pods
    )
    assert created[0]["source"]["component"] == "replicaset-controller"


async def test_a_template_change_rolls_to_a_new_replicaset_and_scales_the_old_one_to_zero(
    cluster: Cluster,
) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("roll")
    object_store.create(DEPLOYMENTS, ns, deployment("web", replicas=2))
    await cluster.wait_for(DEPLOYMENTS, ns, "web", is_true("Available"))
    [old_rs] = object_store.items(REPLICASETS, ns)

    def new_image(body: Obj) -> None:
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"

    replace(object_store, DEPLOYMENTS, ns, "web", new_image)

    def rolled_out(d: Obj) -> bool:
        live_pods = [p for p in cluster.pods(ns) if not p["metadata"].get("deletionTimestamp")]
        return (
            d["status"].get("observedGeneration") == d["metadata"]["generation"] == 2
            and status_is(updatedReplicas=2, replicas=2)(d)
            and condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable"
            and len(live_pods) == 2
        )

    web = await cluster.wait_for(DEPLOYMENTS, ns, "web", rolled_out, what="the rollout of revision 2")
    assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert cluster.live(REPLICASETS, ns, old_rs["metadata"]["name"])["spec"]["replicas"] == 0
    [new_rs] = [
        rs for rs in object_store.items(REPLICASETS, ns) if rs["metadata"]["uid"] != old_rs["metadata"]["uid"]
    ]
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert new_rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    await eventually(
        lambda: all(p["spec"]["containers"][0]["image"] == "nginx:1.28" for p in cluster.pods(ns))
    )


async def test_scaling_and_deleting_pods_keep_the_replica_count(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("scale")
    object_store.create(DEPLOYMENTS, ns, deployment("web", replicas=1))
    await cluster.wait_for(DEPLOYMENTS, ns, "web", status_is(readyReplicas=1))
    replace(object_store, DEPLOYMENTS, ns, "web", lambda body: body["spec"].update(replicas=3))
    await cluster.wait_for(DEPLOYMENTS, ns, "web", status_is(readyReplicas=3))
    victim = cluster.pods(ns)[0]["metadata"]["name"]
    object_store.delete(PODS, ns, victim)

    def replaced() -> bool:
        live_pods = [p for p in cluster.pods(ns) if not p["metadata"].get("deletionTimestamp")]
        return len(live_pods) == 3 and victim not in {p["metadata"]["name"] for p in live_pods}

    await eventually(replaced, what="the deleted pod to be replaced")
    replace(object_store, DEPLOYMENTS, ns, "web", lambda body: body["spec"].update(replicas=1))
    await eventually(lambda: len(cluster.pods(ns)) == 1, what="scale down to one pod")
    await cluster.wait_for(DEPLOYMENTS, ns, "web", status_is(replicas=1, readyReplicas=1))


async def test_a_deployment_without_progress_exceeds_its_deadline(cluster: Cluster) -> None:
    ns = cluster.namespace("deadline")
    cluster.faults.add(Rule(action="never-ready", namespace=ns))
    cluster.object_store.create(DEPLOYMENTS, ns, deployment("web", progressDeadlineSeconds=1))
    web = await cluster.wait_for(
        DEPLOYMENTS,
        ns,
        "web",
        lambda d: condition(d, "Progressing").get("reason") == "ProgressDeadlineExceeded",
    )
    progressing = condition(web, "Progressing")
    assert progressing["status"] == "False"
    assert progressing["message"].endswith("has timed out progressing.")


# -- statefulsets ------------------------------------------------------------------------------------


async def test_statefulset_starts_pods_in_order_with_bound_claims_and_equal_revisions(
    cluster: Cluster,
) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("db")
    ready_when_created: dict[str, list[bool]] = {}

    def watch_creations(change: Change) -> None:
        if change.rt is PODS and change.type == "ADDED":
            ready_when_created[change.obj["metadata"]["name"]] = [
                condition(p, "Ready").get("status") == "True" for p in cluster.pods(ns)
            ]

    object_store.add_listener(watch_creations)
    object_store.create(STATEFULSETS, ns, statefulset("db", replicas=3))
    sts = await cluster.wait_for(STATEFULSETS, ns, "db", status_is(readyReplicas=3))
    # OrderedReady: each pod is created only once every lower ordinal is Ready.
    assert ready_when_created == {"db-0": [False], "db-1": [True, False], "db-2": [True, True, False]}
    status = sts["status"]
    assert status["observedGeneration"] == sts["metadata"]["generation"]
    assert status["replicas"] == status["currentReplicas"] == status["updatedReplicas"] == 3
    assert status["availableReplicas"] == 3
    assert status["collisionCount"] == 0
    assert status["currentRevision"] == status["updateRevision"]
    revision = cluster.live(REVISIONS, ns, status["updateRevision"])
    assert revision["revision"] == 1
    assert revision["metadata"]["ownerReferences"][0]["name"] == "db"

    for i, p in enumerate(cluster.pods(ns)):
        labels = p["metadata"]["labels"]
        assert labels["controller-revision-hash"] == status["updateRevision"]
        assert labels["apps.kubernetes.io/pod-index"] == str(i)
        assert labels["statefulset.kubernetes.io/pod-name"] == f"db-{i}"
        assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == (f"db-{i}", "db")
        assert {"name": "data", "persistentVolumeClaim": {"claimName": f"data-db-{i}"}} in p["spec"][
            "volumes"
        ]
        claim = await cluster.wait_for(CLAIMS, ns, f"data-db-{i}", status_is(phase="Bound"))
        assert claim["metadata"]["labels"] == {"app": "db", "tier": "storage"}
        assert "ownerReferences" not in claim["metadata"]
        assert claim["spec"]["volumeName"] == f"pvc-{claim['metadata']['uid']}"
        assert claim["status"]["capacity"] == {"storage": "2Gi"}
        volume = cluster.live(VOLUMES, "", claim["spec"]["volumeName"])
        assert volume["status"]["phase"] == "Bound"
        assert volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]

    messages = {e["message"] for e in cluster.events(ns, name="db", reason="SuccessfulCreate")}
    assert "create Pod db-0 in StatefulSet db successful" in messages
    assert "create Claim data-db-0 Pod db-0 in StatefulSet db success" in messages
    [provisioned] = cluster.events(ns, name="data-db-0", reason="ProvisioningSucceeded")
    assert provisioned["source"]["component"] == "persistentvolume-controller"


async def test_a_statefulset_template_change_rolls_pods_in_reverse_order(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("sts-roll")
    object_store.create(STATEFULSETS, ns, statefulset("db", replicas=2, podManagementPolicy="Parallel"))
    first = await cluster.wait_for(STATEFULSETS, ns, "db", status_is(readyReplicas=2))
    changes = record_changes(object_store)

    def new_image(body: Obj) -> None:
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "mariadb:11.8"

    replace(object_store, STATEFULSETS, ns, "db", new_image)

    def rolled(s: Obj) -> bool:
        st: dict[str, Any] = s["status"]
        return bool(
            st.get("updateRevision") != first["status"]["updateRevision"]
            and st.get("currentRevision") == st.get("updateRevision")
            and st.get("updatedReplicas") == st.get("readyReplicas") == 2
        )

    sts = await cluster.wait_for(STATEFULSETS, ns, "db", rolled, what="the rolling update")
    deleted = [c.obj["metadata"]["name"] for c in changes if c.rt is PODS and c.type == "DELETED"]
    assert deleted == ["db-1", "db-0"]
    assert sts["status"]["observedGeneration"] == 2
    assert all(p["spec"]["containers"][0]["image"] == "mariadb:11.8" for p in cluster.pods(ns))
    assert cluster.live(REVISIONS, ns, sts["status"]["updateRevision"])["revision"] == 2


# -- jobs --------------------------------------------------------------------------------------------


async def test_a_job_completes_with_success_criteria_met_then_complete(cluster: Cluster) -> None:
    ns = cluster.namespace("jobs")
    cluster.object_store.create(JOBS, ns, job("setup"))
    done = await cluster.wait_for(JOBS, ns, "setup", is_true("Complete"))
    status = done["status"]
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert status["succeeded"] == 1
    assert "active" not in status
    assert "failed" not in status
    assert status["startTime"]
    assert status["completionTime"]
    assert (status["ready"], status["terminating"], status["uncountedTerminatedPods"]) == (0, 0, {})
    [worker] = cluster.pods(ns)
    assert re.fullmatch(f"setup-{NAME_CHARS}{{5}}", worker["metadata"]["name"])
    assert worker["metadata"]["labels"]["job-name"] == "setup"
    assert worker["metadata"]["ownerReferences"][0]["uid"] == done["metadata"]["uid"]
    assert worker["status"]["phase"] == "Succeeded"
    reasons = [(e["reason"], e["message"]) for e in cluster.events(ns, name="setup")]
    assert ("SuccessfulCreate", f"Created pod: {worker['metadata']['name']}") in reasons
    assert ("Completed", "Job completed") in reasons


async def test_a_finished_job_is_deleted_after_its_ttl(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("ttl")
    object_store.create(JOBS, ns, job("once", ttlSecondsAfterFinished=1))
    await cluster.wait_for(JOBS, ns, "once", is_true("Complete"))
    finished = time.monotonic()
    await asyncio.sleep(0.5)
    assert object_store.peek(JOBS, ns, "once") is not None, "kept until its TTL runs out"
    await eventually(lambda: object_store.peek(JOBS, ns, "once") is None, what="TTL deletion")
    assert time.monotonic() - finished >= 0.9
    await eventually(lambda: not cluster.pods(ns), what="the Job's pods to go with it")


async def test_a_zero_ttl_deletes_the_job_as_soon_as_it_finishes(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("ttl0")
    changes = record_changes(object_store)
    object_store.create(JOBS, ns, job("now", ttlSecondsAfterFinished=0))
    await eventually(lambda: any(c.rt is JOBS and c.type == "DELETED" for c in changes), what="deletion")
    assert any(c.rt is JOBS and is_true("Complete")(c.obj) for c in changes)


async def test_fail_job_fault_retries_up_to_the_backoff_limit_then_fails(cluster: Cluster) -> None:
    ns = cluster.namespace("failing")
    cluster.faults.add(Rule(action="fail-job", namespace=ns, name="migrate"))
    cluster.object_store.create(JOBS, ns, job("migrate", backoffLimit=2))
    failed = await cluster.wait_for(JOBS, ns, "migrate", is_true("Failed"))
    status = failed["status"]
    # helm's legacy waiter reports a Job failed once status.failed > spec.backoffLimit.
    assert status["failed"] == 3
    assert [c["type"] for c in status["conditions"]] == ["FailureTarget", "Failed"]
    assert {c["reason"] for c in status["conditions"]} == {"BackoffLimitExceeded"}
    assert "succeeded" not in status
    assert "completionTime" not in status
    pods = cluster.pods(ns)
    assert len(pods) == 3
    for p in pods:
        assert p["status"]["phase"] == "Failed"
        terminated = first_status(p)["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
    [event] = cluster.events(ns, name="migrate", reason="BackoffLimitExceeded")
    assert (event["type"], event["message"]) == ("Warning", "Job has reached the specified backoff limit")


# -- volumes -----------------------------------------------------------------------------------------


def claim_body(name: str) -> Obj:
    return {"metadata": {"name": name}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}


async def test_pvc_pending_fault_keeps_the_claim_pending_with_one_warning(cluster: Cluster) -> None:
    ns = cluster.namespace("vols")
    cluster.faults.add(Rule(action="pvc-pending", namespace=ns, name="data"))
    cluster.object_store.create(CLAIMS, ns, claim_body("data"))
    await eventually(lambda: cluster.events(ns, name="data", reason="ProvisioningFailed"), what="a warning")
    await asyncio.sleep(0.2)
    assert cluster.live(CLAIMS, ns, "data")["status"]["phase"] == "Pending"
    [warning] = cluster.events(ns, name="data", reason="ProvisioningFailed")
    assert (warning["type"], warning["count"]) == ("Warning", 1)
    cluster.faults.clear()
    bound = await cluster.wait_for(CLAIMS, ns, "data", status_is(phase="Bound"))
    assert bound["spec"]["storageClassName"] == "standard"
    assert bound["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"


async def test_deleting_a_claim_deletes_its_provisioned_volume(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("reclaim")
    object_store.create(CLAIMS, ns, claim_body("data"))
    bound = await cluster.wait_for(CLAIMS, ns, "data", status_is(phase="Bound"))
    volume_name = bound["spec"]["volumeName"]
    assert object_store.peek(VOLUMES, "", volume_name) is not None
    object_store.delete(CLAIMS, ns, "data")
    await eventually(
        lambda: object_store.peek(VOLUMES, "", volume_name) is None, what="the volume to be reclaimed"
    )


# -- namespaces --------------------------------------------------------------------------------------


async def test_deleting_a_namespace_empties_it_then_removes_it(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("doomed")
    object_store.create(DEPLOYMENTS, ns, deployment("web", replicas=2))
    object_store.create(STATEFULSETS, ns, statefulset("db", replicas=1))
    object_store.create(CONFIG_MAPS, ns, {"metadata": {"name": "settings"}, "data": {"a": "b"}})
    await cluster.wait_for(DEPLOYMENTS, ns, "web", status_is(readyReplicas=2))
    object_store.delete(NAMESPACES, "", ns)
    assert object_store.namespace_phase(ns) == "Terminating"
    await eventually(lambda: object_store.peek(NAMESPACES, "", ns) is None, what="the namespace to go")
    for rt in (PODS, DEPLOYMENTS, REPLICASETS, STATEFULSETS, CLAIMS, CONFIG_MAPS, EVENTS, SERVICE_ACCOUNTS):
        assert not object_store.items(rt, ns), rt.plural
    await eventually(lambda: not object_store.items(VOLUMES), what="the claims' volumes to be reclaimed")


async def test_an_object_with_a_finalizer_keeps_its_namespace_terminating(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("held")
    object_store.create(CONFIG_MAPS, ns, {"metadata": {"name": "keep", "finalizers": ["example.com/keep"]}})
    object_store.create(CONFIG_MAPS, ns, {"metadata": {"name": "free"}})
    object_store.delete(NAMESPACES, "", ns)
    await eventually(
        lambda: (
            [(k, o["metadata"]["name"]) for k, o in cluster.controllers.index.in_namespace(ns)]
            == [(CONFIG_MAPS, "keep")]
        ),
        what="everything else to go",
    )
    await asyncio.sleep(0.1)
    held = cluster.live(NAMESPACES, "", ns)
    assert held["status"]["phase"] == "Terminating"
    remaining = condition(held, "NamespaceFinalizersRemaining")
    assert remaining["status"] == "True"
    assert "example.com/keep in 1 resource instances" in remaining["message"]
    kept = copy.deepcopy(cluster.live(CONFIG_MAPS, ns, "keep"))
    assert kept["metadata"]["deletionTimestamp"]
    kept["metadata"]["finalizers"] = []
    object_store.replace(CONFIG_MAPS, ns, "keep", kept)
    await eventually(lambda: object_store.peek(NAMESPACES, "", ns) is None, what="the namespace to go")


# -- garbage collection ------------------------------------------------------------------------------


async def test_background_deletion_removes_replicasets_and_pods(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("gc-bg")
    object_store.create(DEPLOYMENTS, ns, deployment("web", replicas=2))
    await eventually(lambda: len(cluster.pods(ns)) == 2)
    _, gone = object_store.delete(DEPLOYMENTS, ns, "web", propagation="Background")
    assert gone
    await eventually(
        lambda: not object_store.items(REPLICASETS, ns) and not cluster.pods(ns), what="dependents to go"
    )


async def test_foreground_deletion_keeps_the_owner_until_its_dependents_are_gone(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("gc-fg")
    object_store.create(DEPLOYMENTS, ns, deployment("web", replicas=2))
    await cluster.wait_for(DEPLOYMENTS, ns, "web", status_is(readyReplicas=2))
    [rs] = object_store.items(REPLICASETS, ns)
    changes = record_changes(object_store)
    owner, gone = object_store.delete(DEPLOYMENTS, ns, "web", propagation="Foreground")
    assert not gone
    assert owner["metadata"]["finalizers"] == ["foregroundDeletion"]
    await eventually(lambda: object_store.peek(DEPLOYMENTS, ns, "web") is None, what="the owner to go")
    removed = [(c.rt.kind, c.obj["metadata"]["name"]) for c in changes if c.type == "DELETED"]
    kinds = [kind for kind, _ in removed]
    assert kinds.count("Pod") == 2
    assert removed[-1] == ("Deployment", "web")
    assert removed.index(("ReplicaSet", rs["metadata"]["name"])) == len(removed) - 2, "the pods went first"


async def test_orphan_deletion_strips_the_owner_reference_from_dependents(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("gc-orphan")
    object_store.create(DEPLOYMENTS, ns, deployment("web", replicas=1))
    await eventually(lambda: len(cluster.pods(ns)) == 1 and object_store.items(REPLICASETS, ns))
    object_store.delete(DEPLOYMENTS, ns, "web", propagation="Orphan")
    await eventually(lambda: object_store.peek(DEPLOYMENTS, ns, "web") is None, what="the owner to go")
    [rs] = object_store.items(REPLICASETS, ns)
    assert "ownerReferences" not in rs["metadata"]
    await asyncio.sleep(0.05)
    assert len(cluster.pods(ns)) == 1, "the orphaned ReplicaSet keeps its pod"


async def test_a_dependent_with_another_live_owner_only_loses_the_reference(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("gc-owners")
    owners = [
        object_store.create(CONFIG_MAPS, ns, {"metadata": {"name": name}}) for name in ("first", "second")
    ]
    refs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]}
        for o in owners
    ]
    object_store.create(SECRETS, ns, {"metadata": {"name": "shared", "ownerReferences": refs}})
    object_store.delete(CONFIG_MAPS, ns, "first")
    await cluster.wait_for(
        SECRETS,
        ns,
        "shared",
        lambda s: [r["name"] for r in s["metadata"]["ownerReferences"]] == ["second"],
        what="the dangling reference to be dropped",
    )
    object_store.delete(CONFIG_MAPS, ns, "second")
    await eventually(
        lambda: object_store.peek(SECRETS, ns, "shared") is None, what="the last owner's dependent to go"
    )


# -- services ----------------------------------------------------------------------------------------


async def test_endpoints_list_the_ready_pods_behind_a_service(cluster: Cluster) -> None:
    object_store = cluster.object_store
    ns = cluster.namespace("svc")
    spec = {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}
    object_store.create(SERVICES, ns, {"metadata": {"name": "web"}, "spec": spec})
    object_store.create(DEPLOYMENTS, ns, deployment("web", replicas=2))

    def two_ready(endpoints: Obj) -> bool:
        subsets = endpoints.get("subsets") or [{}]
        return len(subsets[0].get("addresses") or []) == 2

    endpoints = await cluster.wait_for(ENDPOINTS, ns, "web", two_ready, what="two ready addresses")
    [subset] = endpoints["subsets"]
    assert subset["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert {a["targetRef"]["name"] for a in subset["addresses"]} == {
        p["metadata"]["name"] for p in cluster.pods(ns)
    }
    object_store.delete(SERVICES, ns, "web")
    await eventually(lambda: object_store.peek(ENDPOINTS, ns, "web") is None, what="the endpoints to go")


# -- lifecycle ---------------------------------------------------------------------------------------


async def test_stop_cancels_and_awaits_every_task_the_controllers_own() -> None:
    settings = Settings(delays=FAST)
    object_store = ObjectStore(settings)
    faults = Faults()
    faults.add(Rule(action="crash-loop", name="crashy"))
    faults.add(Rule(action="never-ready", name="stuck"))
    controllers = Controllers(object_store, settings, faults)
    await controllers.start()
    try:
        for name in ("crashy", "stuck", "fine"):
            object_store.create(PODS, "default", pod(name))
        object_store.create(JOBS, "default", job("later", ttlSecondsAfterFinished=60))
        await eventually(lambda: is_true("Ready")(object_store.peek(PODS, "default", "fine") or {}))
        await eventually(lambda: is_true("Complete")(object_store.peek(JOBS, "default", "later") or {}))
        object_store.delete(PODS, "default", "fine")  # a termination in flight
    finally:
        await controllers.stop()
    owned = ("pod", "pod-termination", "pvc-bind", "kubesim-controller")
    leftover = [t for t in asyncio.all_tasks() if t.get_name().split(":", 1)[0] in owned and not t.done()]
    assert leftover == []
    await controllers.stop()  # stopping twice is harmless
