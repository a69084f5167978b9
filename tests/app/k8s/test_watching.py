"""The watch machinery against a kubesim process: real HTTP, real kubernetes_asyncio, injected faults."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio.client import (
    ApiClient,
    ApiException,
    AppsV1Api,
    CoreV1Api,
    V1ConfigMap,
    V1Container,
    V1Namespace,
    V1ObjectMeta,
    V1PersistentVolumeClaim,
    V1PersistentVolumeClaimSpec,
    V1Pod,
    V1PodSpec,
    V1Secret,
    V1VolumeResourceRequirements,
)

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from storeplane.k8s.backoff import RetryPolicy
from storeplane.k8s.client import kube_client
from storeplane.k8s.watching import WatchEvent, WatchSet, WatchSettings, WatchSpec
from storeplane.labels import MANAGED_BY, MANAGED_BY_LABEL, STORE_ID_LABEL
from storeplane.observing.watches import (
    DEPLOYMENTS,
    HELM_RELEASES,
    NAMESPACES,
    PODS,
    PVCS,
    STOREPLANE_WATCHES,
)
from storeplane.tasks import TaskKind, kind_of
from tests.helpers import eventually

# Short backoff so that recoveries take a fraction of a second; the server timeout stays long so that no
# watch ends on its own in the middle of a test.
FAST = WatchSettings(
    server_timeout_seconds=60,
    read_timeout_grace=10.0,
    connect_timeout=5.0,
    list_timeout=10.0,
    backoff_initial=0.05,
    backoff_max=0.4,
    backoff_factor=2.0,
    backoff_jitter=0.2,
)
HELM = {"owner": "helm"}


class Recorder:
    """A sink that keeps the events about one namespace (or, for Namespaces, that namespace itself)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.events: list[WatchEvent] = []

    async def __call__(self, event: WatchEvent) -> None:
        if self.namespace in (event.namespace, event.name if event.kind == "Namespace" else None):
            self.events.append(event)

    def pairs(self) -> list[tuple[str, str]]:
        return [(event.type, event.name) for event in self.events]

    def has(self, kind: str, name: str) -> bool:
        return (kind, name) in self.pairs()


@pytest.fixture
async def kube(kubesim: KubesimProcess) -> AsyncIterator[ApiClient]:
    """The client the watches use, built by storeplane.k8s.client from the session's kubeconfig."""
    async with kube_client(kubeconfig=kubesim.kubeconfig) as client:
        yield client


@pytest.fixture
async def namespace(api: ApiClient) -> AsyncIterator[str]:
    """A namespace of this test's own (the kubesim process is shared), deleted afterwards."""
    core = CoreV1Api(api)
    name = f"wt-{uuid.uuid4().hex[:10]}"
    await core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        with contextlib.suppress(ApiException):
            await core.delete_namespace(name)


def _secret(name: str, labels: dict[str, str] | None = None, **data: str) -> V1Secret:
    # data, not stringData: kubesim stores stringData as sent instead of folding it into data.
    return V1Secret(metadata=V1ObjectMeta(name=name, labels=labels), data=_b64(**data) or None)


def _b64(**data: str) -> dict[str, str]:
    return {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}


def _watch_key(spec: WatchSpec) -> str:
    """kubesim's key for a resource in openWatchesByResource: plural.group/version."""
    return f"{spec.plural}.{spec.group}/{spec.version}"


async def _open_watches(control: ControlClient, specs: tuple[WatchSpec, ...]) -> dict[str, int]:
    by_resource: dict[str, int] = (await control.metrics())["openWatchesByResource"]
    return {_watch_key(spec): by_resource.get(_watch_key(spec), 0) for spec in specs}


# -- list and watch --------------------------------------------------------------------------------


async def test_initial_list_delivers_existing_labelled_objects_as_added_and_sets_synced(
    api: ApiClient, kube: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(api)
    await core.create_namespaced_secret(namespace, _secret("release-1", HELM, release="H4sI..."))
    await core.create_namespaced_secret(namespace, _secret("release-2", HELM, release="H4sI..."))
    await core.create_namespaced_secret(namespace, _secret("unlabelled"))
    queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
    watches = WatchSet(kube, [HELM_RELEASES], settings=FAST, sink=queue)
    try:
        assert not watches.synced
        await watches.start()
        await asyncio.wait_for(watches.wait_synced(), 10)
        # synced is set once the list has been delivered, not merely fetched: the queue holds it all.
        delivered = [queue.get_nowait() for _ in range(queue.qsize())]
        ours = [event for event in delivered if event.namespace == namespace]
        assert [(event.type, event.name) for event in ours] == [
            ("ADDED", "release-1"),
            ("ADDED", "release-2"),
        ]
        assert all(event.from_list and event.kind == "Secret" for event in delivered)
        health = watches.health()["helm-releases"]
        assert health.synced
        assert health.healthy
        assert health.last_error is None
        watcher = watches["helm-releases"]
        assert watcher.get("release-1", namespace=namespace) is not None
        assert watcher.get("unlabelled", namespace=namespace) is None
        cached = watcher.objects(namespace=namespace)
        assert {obj["metadata"]["name"] for obj in cached} == {"release-1", "release-2"}
        # The release payload (rendered manifests, generated passwords) is neither cached nor delivered.
        assert not any("data" in obj for obj in cached)
    finally:
        await watches.stop()


async def test_what_no_consumer_reads_is_neither_cached_nor_delivered(
    api: ApiClient, kube: ApiClient, namespace: str
) -> None:
    labels = {STORE_ID_LABEL: namespace, "app": "web"}
    template = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
    }
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template},
    }
    await AppsV1Api(api).create_namespaced_deployment(namespace, deployment)  # type: ignore[arg-type]
    queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
    watches = WatchSet(kube, [DEPLOYMENTS, PODS], settings=FAST, sink=queue)
    try:
        await watches.start()
        await asyncio.wait_for(watches.wait_synced(), 10)

        def cached_pods() -> list[dict[str, Any]]:
            return watches["pods"].objects(namespace=namespace)

        await eventually(lambda: _true(len(cached_pods()) == 2), timeout=10, what="the two pods")
        cached = watches["deployments"].get("web", namespace=namespace)
        assert cached is not None
        # The replica count and the status stay: readiness needs them. The pod template goes.
        assert cached["spec"]["replicas"] == 2
        assert "template" not in cached["spec"]
        assert all("spec" not in pod and "status" in pod for pod in cached_pods())
        delivered = [queue.get_nowait() for _ in range(queue.qsize())]
        assert delivered
        assert all("managedFields" not in event.object["metadata"] for event in delivered)
        assert not any(
            "template" in event.object.get("spec", {}) for event in delivered if event.kind == "Deployment"
        )
    finally:
        await watches.stop()


async def test_later_changes_arrive_in_order_and_unlabelled_objects_never_do(
    api: ApiClient, kube: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(api)
    recorder = Recorder(namespace)
    watches = WatchSet(kube, [HELM_RELEASES], settings=FAST, sink=recorder)
    try:
        await watches.start()
        await asyncio.wait_for(watches.wait_synced(), 10)
        await core.create_namespaced_secret(namespace, _secret("release", HELM, v="1"))
        await core.create_namespaced_secret(namespace, _secret("plain", v="1"))
        await core.patch_namespaced_secret("release", namespace, {"data": _b64(v="2")})
        await core.patch_namespaced_secret("plain", namespace, {"data": _b64(v="2")})
        await core.delete_namespaced_secret("release", namespace)
        await core.create_namespaced_secret(namespace, _secret("mover", HELM))
        # Leaving the selector reads as a deletion to this watch, as on a real server.
        await core.patch_namespaced_secret("mover", namespace, {"metadata": {"labels": {"owner": "other"}}})
        await core.create_namespaced_secret(namespace, _secret("last", HELM))

        await eventually(lambda: _true(recorder.has("ADDED", "last")), timeout=10, what="the last secret")
        assert recorder.pairs() == [
            ("ADDED", "release"),
            ("MODIFIED", "release"),
            ("DELETED", "release"),
            ("ADDED", "mover"),
            ("DELETED", "mover"),
            ("ADDED", "last"),
        ]
        assert not any(event.from_list for event in recorder.events)
        versions = [int(event.resource_version) for event in recorder.events]
        assert versions == sorted(versions)
        assert len(set(versions)) == len(versions)
        watcher = watches["helm-releases"]
        assert watcher.get("release", namespace=namespace) is None
        assert watcher.get("mover", namespace=namespace) is None
        assert int(watcher.resource_version or 0) >= versions[-1]
    finally:
        await watches.stop()


async def test_bookmarks_advance_the_resource_version_without_delivering_anything(
    api: ApiClient, kube: ApiClient, namespace: str
) -> None:
    quiet = WatchSpec(
        "quiet", "Secret", "v1", "secrets", label_selector=f"quiet={uuid.uuid4().hex}", namespace=namespace
    )
    recorder = Recorder(namespace)
    watches = WatchSet(kube, [quiet], settings=FAST, sink=recorder)
    try:
        await watches.start()
        await asyncio.wait_for(watches.wait_synced(), 10)
        watcher = watches["quiet"]
        # A write of another kind moves the cluster's version; only a bookmark can tell this watch about it.
        written = await CoreV1Api(api).create_namespaced_config_map(
            namespace, V1ConfigMap(metadata=V1ObjectMeta(name="elsewhere"))
        )
        target = int(written.metadata.resource_version)
        await eventually(
            lambda: _true(int(watcher.resource_version or 0) >= target),
            timeout=5,
            what=f"a bookmark at version {target} or later",
        )
        assert recorder.events == []
        assert watcher.health().connected
    finally:
        await watches.stop()


@pytest.mark.parametrize("expiry", ["expire-next-watch", "compact"])
async def test_a_410_on_resume_relists_and_delivers_changes_made_while_disconnected_exactly_once(
    expiry: str, api: ApiClient, kube: ApiClient, control: ControlClient, namespace: str
) -> None:
    core = CoreV1Api(api)
    recorder = Recorder(namespace)
    at_gate, gate_open = asyncio.Event(), asyncio.Event()

    async def sink(event: WatchEvent) -> None:
        await recorder(event)
        if event.namespace == namespace and (event.type, event.name) == ("ADDED", "gate"):
            # Hold the watcher inside delivery: it reads nothing more from its stream until the gate opens.
            at_gate.set()
            await gate_open.wait()

    await core.create_namespaced_secret(namespace, _secret("kept", HELM, v="1"))
    await core.create_namespaced_secret(namespace, _secret("gone", HELM))
    watches = WatchSet(kube, [HELM_RELEASES], settings=FAST, sink=sink)
    try:
        await watches.start()
        await asyncio.wait_for(watches.wait_synced(), 10)
        watcher = watches["helm-releases"]
        await core.create_namespaced_secret(namespace, _secret("gate", HELM))
        await asyncio.wait_for(at_gate.wait(), 10)

        if expiry == "expire-next-watch":
            await control.expire_next_watch()
        assert await control.cut_watches() >= 1
        # The stream is closed before these writes, so the watcher can learn of them only by listing.
        await core.patch_namespaced_secret("kept", namespace, {"data": _b64(v="2")})
        await core.create_namespaced_secret(namespace, _secret("new", HELM))
        await core.delete_namespaced_secret("gone", namespace)
        if expiry == "compact":
            await control.compact()  # the version the watcher holds is now older than anything resumable
        gate_open.set()

        await eventually(lambda: _true(watcher.health().relists == 1), timeout=10, what="a relist")
        await core.create_namespaced_secret(namespace, _secret("after", HELM))
        await eventually(lambda: _true(recorder.has("ADDED", "after")), timeout=10, what="the later secret")

        assert recorder.pairs() == [
            ("ADDED", "kept"),
            ("ADDED", "gone"),
            ("ADDED", "gate"),
            ("DELETED", "gone"),
            ("MODIFIED", "kept"),
            ("ADDED", "new"),
            ("ADDED", "after"),
        ]
        assert [event.from_list for event in recorder.events] == [True, True, False, True, True, True, False]
        kept = watcher.get("kept", namespace=namespace)
        live = await core.read_namespaced_secret("kept", namespace)
        assert kept is not None
        assert kept["metadata"]["resourceVersion"] == live.metadata.resource_version
        health = watcher.health()
        assert (health.expired, health.relists, health.restarts) == (1, 1, 0)
        assert health.healthy
    finally:
        gate_open.set()
        await watches.stop()


async def test_an_outage_is_ridden_out_and_changes_made_during_it_arrive_after_recovery(
    api: ApiClient, kube: ApiClient, control: ControlClient, namespace: str
) -> None:
    pod = V1Pod(
        metadata=V1ObjectMeta(name="web", labels={STORE_ID_LABEL: namespace}),
        spec=V1PodSpec(containers=[V1Container(name="web", image="nginx:1.27")]),
    )
    await CoreV1Api(api).create_namespaced_pod(namespace, pod)
    recorder = Recorder(namespace)
    watches = WatchSet(kube, [PODS], settings=FAST, sink=recorder)
    watcher = watches["pods"]

    def ready() -> bool:
        obj = watcher.get("web", namespace=namespace) or {}
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    try:
        await watches.start()
        await eventually(lambda: _true(ready()), timeout=10, what="the pod to be Ready")

        await control.outage(2.0)
        await control.cut_watches()  # as an API server restart does; the outage alone leaves streams open
        # kubesim's churn writes inside the server, so these changes land while every request gets 503.
        await control.start_churn(rate=40, count=10, mode="pod-status", namespace=namespace)
        await eventually(
            lambda: _true("503" in (watcher.health().last_error or "")), timeout=5, what="the watcher to fail"
        )
        assert not watches.healthy
        churn = await eventually(_churn_done(control, 10), timeout=5, what="the churn writes")
        assert not watcher.health().connected, "the churn should have finished inside the outage"
        written = {write["resourceVersion"] for write in churn}

        def delivered() -> Counter[str]:
            return Counter(e.resource_version for e in recorder.events if e.name == "web")

        await eventually(
            lambda: _true(written <= set(delivered())), timeout=10, what="every change made in the outage"
        )
        assert all(delivered()[version] == 1 for version in written)
        health = watcher.health()
        assert health.healthy
        assert health.connected
        assert "503" in (health.last_error or "")
        # The event log was intact, so the watcher resumed where it was: no 410, no relist.
        assert (health.expired, health.relists, health.restarts) == (0, 0, 0)
    finally:
        await watches.stop()
        await control.stop_churn()


def _churn_done(control: ControlClient, count: int) -> Any:
    async def probe() -> list[dict[str, Any]] | None:
        state = await control.churn()
        writes: list[dict[str, Any]] = state["writes"]
        return writes if len(writes) >= count and not state["running"] else None

    return probe


# -- supervision -----------------------------------------------------------------------------------


async def test_the_watch_count_stays_one_per_kind_however_many_stores_exist(
    api: ApiClient, kube: ApiClient, control: ControlClient
) -> None:
    core = CoreV1Api(api)
    await eventually(
        lambda: _all_equal(control, STOREPLANE_WATCHES, 0), timeout=5, what="no watches left from before"
    )
    run = uuid.uuid4().hex[:6]
    stores = [f"store-{run}-{index}" for index in range(6)]
    namespace_events: list[WatchEvent] = []
    claims: list[WatchEvent] = []

    async def sink(event: WatchEvent) -> None:
        if event.kind == "Namespace" and event.name in stores:
            namespace_events.append(event)
        if event.kind == "PersistentVolumeClaim" and event.namespace in stores:
            claims.append(event)

    watches = WatchSet(kube, STOREPLANE_WATCHES, settings=FAST, sink=sink)
    try:
        await watches.start()
        await asyncio.wait_for(watches.wait_synced(), 10)
        await eventually(lambda: _all_equal(control, STOREPLANE_WATCHES, 1), timeout=5, what="one watch each")
        for store in stores:
            labels = {MANAGED_BY_LABEL: MANAGED_BY, STORE_ID_LABEL: store}
            await core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=store, labels=labels)))
            claim = V1PersistentVolumeClaim(
                metadata=V1ObjectMeta(name="data", labels={STORE_ID_LABEL: store}),
                spec=V1PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteOnce"],
                    resources=V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
                ),
            )
            await core.create_namespaced_persistent_volume_claim(store, claim)
        await eventually(
            lambda: _true({e.namespace for e in claims} == set(stores)),
            timeout=10,
            what="every store's claim",
        )
        assert {e.name for e in namespace_events if e.type == "ADDED"} == set(stores)
        assert await _open_watches(control, STOREPLANE_WATCHES) == {
            _watch_key(spec): 1 for spec in STOREPLANE_WATCHES
        }
        assert {o["metadata"]["name"] for o in watches[NAMESPACES.name].objects()} >= set(stores)
        assert len([o for o in watches[PVCS.name].objects() if o["metadata"]["namespace"] in stores]) == 6
    finally:
        await watches.stop()
        for store in stores:
            with contextlib.suppress(ApiException):
                await core.delete_namespace(store)


async def test_a_crashed_watcher_is_logged_and_restarted_with_its_cache_intact(
    api: ApiClient, kube: ApiClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    core = CoreV1Api(api)
    recorder = Recorder(namespace)
    crashed = False

    async def sink(event: WatchEvent) -> None:
        nonlocal crashed
        await recorder(event)
        if event.name == "boom" and not crashed:
            crashed = True
            raise RuntimeError("consumer bug")

    await core.create_namespaced_secret(namespace, _secret("before", HELM))
    watches = WatchSet(kube, [HELM_RELEASES], settings=FAST, sink=sink)
    try:
        with caplog.at_level(logging.ERROR, logger="storeplane.k8s.watchset"):
            await watches.start()
            await asyncio.wait_for(watches.wait_synced(), 10)
            await core.create_namespaced_secret(namespace, _secret("boom", HELM))
            watcher = watches["helm-releases"]
            await eventually(lambda: _true(watcher.health().relists == 1), timeout=10, what="the restart")
        assert "watch helm-releases crashed" in caplog.text
        health = watcher.health()
        assert health.restarts == 1
        assert health.last_error == "RuntimeError: consumer bug"
        await core.create_namespaced_secret(namespace, _secret("after", HELM))
        await eventually(lambda: _true(recorder.has("ADDED", "after")), timeout=10, what="the later secret")
        # The restart relisted against the cache: nothing already delivered came again.
        assert recorder.pairs() == [("ADDED", "before"), ("ADDED", "boom"), ("ADDED", "after")]
    finally:
        await watches.stop()


async def test_stop_leaves_no_task_and_no_watch_and_the_client_closes_its_session(
    kubesim: KubesimProcess, control: ControlClient
) -> None:
    async with kube_client(kubeconfig=kubesim.kubeconfig) as client:
        async with WatchSet(client, STOREPLANE_WATCHES, settings=FAST) as watches:
            await asyncio.wait_for(watches.wait_synced(), 10)
            tasks = watches.tasks
            assert sorted(task.get_name() for task in tasks) == sorted(
                f"watch:{spec.name}" for spec in STOREPLANE_WATCHES
            )
            assert all(kind_of(task) is TaskKind.WATCH for task in tasks)
        assert all(task.done() for task in tasks)
        assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("watch:")]
        await watches.stop()  # a second stop is harmless
        await eventually(lambda: _all_equal(control, STOREPLANE_WATCHES, 0), timeout=5, what="watches closed")
        session = client.rest_client.pool_manager
    assert session.closed
    gc.collect()  # an unclosed session or response would warn here, and warnings fail the suite


# -- pure parts ------------------------------------------------------------------------------------


def test_watch_settings_give_their_backoff_fields_as_the_retry_policy() -> None:
    assert FAST.retry_policy == RetryPolicy(initial=0.05, max=0.4, factor=2.0, jitter=0.2)


def test_a_namespaced_spec_addresses_its_namespace_and_a_cluster_wide_one_all() -> None:
    assert PODS.path == "/api/v1/pods"
    assert PODS.all_namespaces
    scoped = WatchSpec("jobs", "Job", "v1", "jobs", group="batch", namespace="store-a")
    assert scoped.path == "/apis/batch/v1/namespaces/store-a/jobs"
    assert scoped.api_version == "batch/v1"


# -- helpers ---------------------------------------------------------------------------------------


async def _true(value: bool) -> bool:
    return value


async def _all_equal(control: ControlClient, specs: tuple[WatchSpec, ...], count: int) -> bool:
    return all(value == count for value in (await _open_watches(control, specs)).values())
