"""Provisioning against kubesim with the real helm binary, the woocommerce chart and a real SQLite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio.client import AppsV1Api

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from storeplane.events.models import EventSource, StoreEvent
from storeplane.stores.models import StoreStatus
from storeplane.stores.records import StoreRecord
from tests.app.provisioning.stack_helpers import (
    Stack,
    database,
    provisioning,
    reaches,
    running,
    settings_for,
    status_of,
    unique_name,
)
from tests.helpers import eventually

pytestmark = pytest.mark.timeout(240)


async def test_a_store_becomes_ready_with_urls_and_its_events_in_order(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, provisioning_timeout_seconds=60
    ) as stack:
        name = unique_name()
        store = await stack.new_store(name)
        await stack.provisioner.submit(store.id)
        ready = await reaches(store.id, StoreStatus.READY)
        assert ready.storefront_url == f"http://{name}.localtest.me/"
        assert ready.admin_url == f"http://{name}.localtest.me/wp-admin/"
        assert ready.ready_at is not None
        assert ready.failure_reason is None
        resources = {(r.kind, r.name): r.state for r in stack.observer.resources(store.id)}
        assert resources[("StatefulSet", f"{name}-mariadb")] == "ready"
        assert resources[("Deployment", f"{name}-wordpress")] == "ready"
        assert resources[("PersistentVolumeClaim", f"data-{name}-mariadb-0")] == "Bound"
        assert resources[("Ingress", name)] == "exists"
        assert not any(kind == "Secret" for kind, _ in resources)  # helm's release records are not resources
        events = await StoreEvent.filter(store_id=store.id).order_by("id")
        reasons = [event.reason for event in events]
        first = {reason: reasons.index(reason) for reason in reversed(reasons)}
        assert first["Provisioning"] < first["NamespaceCreated"] < first["HelmInstalled"]
        # helm returns once the objects exist; the kubelet may pull images before it does, so Kubernetes'
        # own steps are ordered after the namespace, not after helm's return.
        assert first["NamespaceCreated"] < first["Pulled"] < first["Started"] < first["JobCompleted"]
        assert first["HelmInstalled"] < first["IngressReady"]
        # Kubernetes may still report on the store after Ready (late kubelet events, the finished Job's pod
        # going away), so Ready is the last of the provisioning steps, not necessarily the last event.
        assert first["JobCompleted"] < first["IngressReady"] < first["Ready"]
        assert reasons.count("Ready") == 1
        messages = [event.message for event in events]
        assert any(
            m.startswith(f"Pod {name}-mariadb-0 pulled image ") and m.endswith("mariadb:11.8.3")
            for m in messages
        )
        assert any(m.startswith(f"Job {name}-setup-") and m.endswith(" completed") for m in messages)
        assert f"Ingress ready at http://{name}.localtest.me/" in messages
        sources = {event.reason: event.source for event in events}
        assert sources["HelmInstalled"] == EventSource.HELM
        assert sources["Pulled"] == EventSource.KUBERNETES
        assert sources["Ready"] == EventSource.API
        # No duplicate for an unchanged object: one note per state change.
        keys = [(e.involved_kind, e.involved_name, e.reason, e.message) for e in events]
        assert len(keys) == len(set(keys))
        assert stack.observer.steps_done(StoreRecord.of(ready)) == {
            s.id for s in stack.system.core.catalog.engines["woocommerce"].steps_for(stack.observer.features)
        }
        assert stack.observer.features == frozenset()  # values/local.yaml: TLS off, no Certificate step


async def test_a_deleted_store_loses_its_namespace_and_becomes_deleted(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, provisioning_timeout_seconds=60
    ) as stack:
        store = await stack.new_store(unique_name())
        await stack.provisioner.submit(store.id)
        await reaches(store.id, StoreStatus.READY)
        await stack.delete(store.id)
        assert await status_of(store.id) == StoreStatus.DELETING
        deleted = await reaches(store.id, StoreStatus.DELETED)
        assert deleted.deleted_at is not None
        assert not stack.observer.namespace_present(store.namespace)
        reasons = [e.reason for e in await StoreEvent.filter(store_id=store.id).order_by("id")]
        tail = reasons[reasons.index("HelmUninstalled") :]
        assert tail == ["HelmUninstalled", "NamespaceDeleting", "NamespaceDeleted", "Deleted"], tail


async def test_deleting_a_store_mid_install_cancels_it_and_leaves_nothing(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, provisioning_timeout_seconds=60
    ) as stack:
        store = await stack.new_store(unique_name())
        await stack.provisioner.submit(store.id)
        await reaches(store.id, StoreStatus.PROVISIONING, timeout=10)
        await stack.delete(store.id)
        await reaches(store.id, StoreStatus.DELETED)
        assert not stack.helm.running


async def test_a_never_ready_pod_fails_the_store_naming_it_and_retry_makes_it_ready(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], control: ControlClient, tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, provisioning_timeout_seconds=8
    ) as stack:
        name = unique_name()
        store = await stack.new_store(name)
        await control.add_fault("never-ready", namespace=store.namespace, name=f"{name}-mariadb*")
        await stack.provisioner.submit(store.id)
        failed = await reaches(store.id, StoreStatus.FAILED, timeout=30)
        assert failed.failure_reason is not None
        assert f"Pod {name}-mariadb-0 not ready" in failed.failure_reason, failed.failure_reason
        assert "Readiness probe failed" in failed.failure_reason
        await control.clear_faults()
        # What the store service's retryStore does: Failed -> Pending, then submit.
        await stack.move(store.id, StoreStatus.PENDING, "retried")
        await stack.provisioner.submit(store.id)
        ready = await reaches(store.id, StoreStatus.READY, timeout=30)
        assert ready.failure_reason is None


@contextlib.asynccontextmanager
async def helm_peak(stack: Stack, command: str) -> AsyncIterator[list[int]]:
    """The most `helm <command>` processes running at once inside the block (peak[0] once it ends)."""
    peak = [0]

    async def sample() -> None:
        # From the helm processes the wrapper has running, not from a counter of ours.
        while True:
            running_now = sum(1 for argv in stack.helm.running.values() if argv[1] == command)
            peak[0] = max(peak[0], running_now)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample(), name="helm-sampler")
    try:
        yield peak
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler


async def test_ten_stores_at_once_all_become_ready_within_the_helm_concurrency(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path,
        kubesim=kubesim,
        helm_bin=helm,
        kube_env=kube_env,
        provisioning_timeout_seconds=120,
        provisioning_concurrency=3,
    ) as stack:
        async with helm_peak(stack, "install") as peak:
            stores = [await stack.new_store(unique_name()) for _ in range(10)]
            for store in stores:
                await stack.provisioner.submit(store.id)
            for store in stores:
                await reaches(store.id, StoreStatus.READY, timeout=120)
        assert 2 <= peak[0] <= 3


async def test_deleting_many_stores_at_once_runs_no_more_uninstalls_than_the_helm_concurrency(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path,
        kubesim=kubesim,
        helm_bin=helm,
        kube_env=kube_env,
        provisioning_timeout_seconds=120,
        provisioning_concurrency=2,
    ) as stack:
        stores = [await stack.new_store(unique_name()) for _ in range(6)]
        for store in stores:
            await stack.provisioner.submit(store.id)
        for store in stores:
            await reaches(store.id, StoreStatus.READY, timeout=120)
        async with helm_peak(stack, "uninstall") as peak:
            await asyncio.gather(*(stack.delete(store.id) for store in stores))
            for store in stores:
                await reaches(store.id, StoreStatus.DELETED, timeout=120)
        assert 1 <= peak[0] <= 2, peak


async def test_an_outage_and_a_forced_410_during_provisioning_lose_no_status_change(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], control: ControlClient, tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, provisioning_timeout_seconds=90
    ) as stack:
        await stack.observer.wait_synced()
        first, second = await stack.new_store(unique_name()), await stack.new_store(unique_name())
        await stack.provisioner.submit(first.id)
        await control.outage(2)
        await stack.provisioner.submit(second.id)
        await reaches(first.id, StoreStatus.PROVISIONING, timeout=10)
        await control.expire_next_watch()
        await control.cut_watches()
        await reaches(first.id, StoreStatus.READY, timeout=60)
        await reaches(second.id, StoreStatus.READY, timeout=60)
        reasons = [e.reason for e in await StoreEvent.filter(store_id=first.id).order_by("id")]
        assert reasons.count("Ready") == 1
        assert "JobCompleted" in reasons
        assert sum(w.expired + w.relists for w in stack.observer.watches.health().values()) >= 1


async def test_a_restarted_provisioner_converges_without_duplicating_release_or_namespace(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, provisioning_timeout_seconds=60)
    name = unique_name()
    async with running(
        settings, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, tmp_path=tmp_path
    ) as stack:
        store = await stack.new_store(name)
        await stack.provisioner.submit(store.id)

        async def installing() -> bool:
            return any(argv[1] == "install" for argv in stack.helm.running.values())

        await eventually(installing, timeout=20, interval=0.01, what="helm install running")
    # Stopped mid-install: helm was terminated, the store is left Provisioning.
    async with database(settings):
        assert await status_of(store.id) == StoreStatus.PROVISIONING
    async with running(
        settings, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, tmp_path=tmp_path
    ) as stack:
        await reaches(store.id, StoreStatus.READY, timeout=60)
        releases = await stack.helm.list_releases(namespace=store.namespace)
        assert [r.name for r in releases] == [name]
        assert [ns for ns in stack.observer.watches["namespaces"].cache if ns[1] == store.namespace] == [
            ("", store.namespace)
        ]
        reasons = [e.reason for e in await StoreEvent.filter(store_id=store.id).order_by("id")]
        assert reasons.count("Ready") == 1
        keys = [
            (e.involved_kind, e.involved_name, e.reason, e.message)
            for e in await StoreEvent.filter(store_id=store.id, source=EventSource.KUBERNETES)
        ]
        assert len(keys) == len(set(keys))


async def test_a_workload_deleted_out_of_band_fails_a_ready_store_as_drift(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, provisioning_timeout_seconds=60
    ) as stack:
        name = unique_name()
        store = await stack.new_store(name)
        await stack.provisioner.submit(store.id)
        await reaches(store.id, StoreStatus.READY)
        await AppsV1Api(stack.api).delete_namespaced_stateful_set(f"{name}-mariadb", store.namespace)
        failed = await reaches(store.id, StoreStatus.FAILED, timeout=20)
        assert failed.failure_reason == f"Drift: StatefulSet {name}-mariadb not found"
