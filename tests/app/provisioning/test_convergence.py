"""Stores converge without a restart: through a held database write lock right after createStore or
deleteStore, and when a store's task is lost, with the real helm, kubesim and SQLite."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from kubernetes_asyncio.client import BatchV1Api

from kubesim.process import KubesimProcess
from storeplane.events.models import StoreEvent
from storeplane.stores.models import Store, StoreStatus
from storeplane.stores.records import StoreRecord
from storeplane.tasks import TaskKind, kind_of
from tests.app.database_helpers import sqlite_write_lock
from tests.app.provisioning.stack_helpers import (
    assert_each_once,
    provisioning,
    reaches,
    running,
    settings_for,
    unique_name,
)
from tests.helpers import eventually

pytestmark = pytest.mark.timeout(240)
LOCK_SECONDS = 12.0
AFTER_RELEASE = 30.0
# An install task that keeps failing is tried again after 1, 2, 4, 8, 16 s: the last try may come well after.
AFTER_RELEASE_OF_A_FAILING_TASK = 45.0
# Statements give up on the lock at once, as they would after the default 5 s: every write in between fails.
IMPATIENT = {"database_busy_timeout_ms": 100, "provisioning_timeout_seconds": 120}


async def test_a_write_lock_right_after_create_store_delays_it_but_it_becomes_ready(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, **IMPATIENT
    ) as stack:
        store = await stack.create_store(unique_name())
        async with sqlite_write_lock(stack.settings, seconds=LOCK_SECONDS):
            pass  # held from right after the create until released
        released = time.monotonic()
        await reaches(store.id, StoreStatus.READY, timeout=AFTER_RELEASE)
        await assert_each_once(store.id, "Created", "Provisioning", "HelmInstalled", "Ready")
        release = await stack.helm.status(release=store.helm_release, namespace=store.namespace)
        assert release.revision == 1  # one install, no second helm call
        print(f"Ready {time.monotonic() - released:.1f}s after the lock's release")


async def test_a_write_lock_right_after_delete_store_delays_it_but_it_is_deleted(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, **IMPATIENT
    ) as stack:
        store = await stack.create_store(unique_name())
        await reaches(store.id, StoreStatus.READY, timeout=60)
        deleting = await stack.system.services.stores.delete_store(owner="alice", id=store.id)
        assert isinstance(deleting, StoreRecord)
        assert deleting.status == StoreStatus.DELETING
        async with sqlite_write_lock(stack.settings, seconds=LOCK_SECONDS):
            pass
        await reaches(store.id, StoreStatus.DELETED, timeout=AFTER_RELEASE)
        await assert_each_once(store.id, "DeleteRequested", "HelmUninstalled", "Deleted")


async def test_a_store_whose_task_was_lost_is_resumed_by_the_sweep(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, provisioning_timeout_seconds=120
    ) as stack:
        store = await stack.new_store(unique_name())  # recorded Pending, never handed to provisioning
        assert not stack.provisioner.busy(store.id)
        assert await stack.reconciler.sweep() == 1
        assert stack.provisioner.busy(store.id)
        await reaches(store.id, StoreStatus.READY, timeout=60)
        assert await stack.reconciler.sweep() == 0  # Ready is final: nothing to resume

        # A delete whose task is lost (cancelled from outside, as a crash of that task would).
        deleting = await stack.system.services.stores.delete_store(owner="alice", id=store.id)
        assert isinstance(deleting, StoreRecord)
        task = stack.provisioner._tasks.get(store.id)
        assert task is not None
        assert kind_of(task) == TaskKind.DELETE
        task.cancel()
        await asyncio.wait({task})
        assert not stack.provisioner.busy(store.id)
        # Asked again, deleteStore hands it over again (the first request's task is gone).
        again = await stack.system.services.stores.delete_store(owner="alice", id=store.id)
        assert isinstance(again, StoreRecord)
        assert again.status == StoreStatus.DELETING
        assert stack.provisioner.busy(store.id)
        await reaches(store.id, StoreStatus.DELETED, timeout=60)


async def test_a_task_that_fails_unexpectedly_is_tried_again_later(
    kubesim: KubesimProcess,
    helm: str,
    kube_env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with provisioning(
        tmp_path, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, **IMPATIENT
    ) as stack:
        store = await stack.new_store(unique_name())  # Pending and announced, not handed over yet
        with caplog.at_level(logging.ERROR, logger="storeplane.provisioning.provisioner"):
            async with sqlite_write_lock(stack.settings, seconds=LOCK_SECONDS):
                # Its first step, the move to Provisioning, cannot commit: the install task fails.
                await stack.provisioner.submit(store.id)
            await reaches(store.id, StoreStatus.READY, timeout=AFTER_RELEASE_OF_A_FAILING_TASK)
        assert any("install task failed; trying again" in r.getMessage() for r in caplog.records), caplog.text
        await assert_each_once(store.id, "Provisioning", "HelmInstalled", "Ready")


async def test_a_ready_store_whose_setup_job_is_deleted_stays_ready_also_after_a_restart(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, provisioning_timeout_seconds=120)
    every_step = frozenset({"namespace", "release", "database", "wordpress", "setup", "ingress"})
    async with running(
        settings, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, tmp_path=tmp_path
    ) as stack:
        store = await stack.create_store(unique_name())
        await reaches(store.id, StoreStatus.READY, timeout=60)
        [job_name] = [
            e.involved_name for e in await StoreEvent.filter(store_id=store.id, reason="JobCompleted")
        ]
        assert job_name is not None
        # What the chart's ttlSecondsAfterFinished does to the finished Job.
        await BatchV1Api(stack.api).delete_namespaced_job(
            job_name, store.namespace, propagation_policy="Background"
        )

        async def job_gone() -> bool | None:
            objects = stack.observer.index.objects(store.id)
            return (objects is not None and job_name not in objects.of_kind("Job")) or None

        await eventually(job_gone, timeout=20, what="the Job's deletion seen by the watch")
        record = stack.observer.store(store.id)
        assert record is not None
        assert stack.observer.steps_done(record) == every_step
        assessment = stack.observer.assess(store.id)
        assert assessment is not None
        assert assessment.ready
        await asyncio.sleep(settings.drift_grace_seconds + 1)  # the drift check had its chance
        assert (await Store.get(id=store.id)).status == StoreStatus.READY

    async with running(
        settings, kubesim=kubesim, helm_bin=helm, kube_env=kube_env, tmp_path=tmp_path
    ) as stack:
        await stack.observer.wait_synced()
        record = stack.observer.store(store.id)
        assert record is not None
        assert stack.observer.steps_done(record) == every_step
        ready = await asyncio.wait_for(stack.observer.wait_ready(store.id), timeout=10)
        assert ready.ready
        assert (await Store.get(id=store.id)).status == StoreStatus.READY
