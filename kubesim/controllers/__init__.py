"""The simulated control plane (kwok-like: no container runs): controllers driven by object store changes.

The object store calls one listener synchronously after every commit; it only updates the object index
and queues work. Worker tasks then reconcile through the object store's synchronous API, so a read and
the write that follows it never interleave with other writers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubesim.controllers.certificates import CertificateController
from kubesim.controllers.cluster import seed
from kubesim.controllers.deployment import DeploymentController
from kubesim.controllers.endpoints import EndpointsController
from kubesim.controllers.events import EventRecorder
from kubesim.controllers.gc import GarbageCollector
from kubesim.controllers.index import ObjectIndex
from kubesim.controllers.job import JobController, TtlController
from kubesim.controllers.kubelet import Kubelet
from kubesim.controllers.namespaces import NamespaceController
from kubesim.controllers.replicaset import ReplicaSetController
from kubesim.controllers.runtime import Context, WorkQueue, log
from kubesim.controllers.statefulset import StatefulSetController
from kubesim.controllers.volumes import VolumeController
from kubesim.faults import Faults
from kubesim.object_store import Change, ObjectStore
from kubesim.resources import RESOURCE_TYPES
from kubesim.settings import Settings

Handler = Callable[[Change], None]


class Controllers:
    """Every simulated controller, started and stopped together."""

    def __init__(self, object_store: ObjectStore, settings: Settings, faults: Faults) -> None:
        self._object_store = object_store
        self._settings = settings
        self.index = ObjectIndex(object_store)
        ctx = Context(
            object_store=object_store,
            settings=settings,
            faults=faults,
            index=self.index,
            events=EventRecorder(object_store),
        )
        self._ctx = ctx
        self.kubelet = Kubelet(ctx)
        self.replicasets = ReplicaSetController(ctx)
        self.deployments = DeploymentController(ctx)
        self.statefulsets = StatefulSetController(ctx)
        self.jobs = JobController(ctx)
        self.ttl = TtlController(ctx)
        self.volumes = VolumeController(ctx)
        self.namespaces = NamespaceController(ctx)
        self.gc = GarbageCollector(ctx)
        self.endpoints = EndpointsController(ctx)
        self.certificates = CertificateController(ctx)
        # Handlers by kind; `_everything` sees every change.
        self._by_kind: dict[str, list[Handler]] = {
            "Pod": [
                self.kubelet.on_change,
                self.replicasets.on_change,
                self.statefulsets.on_change,
                self.jobs.on_change,
                self.endpoints.on_change,
            ],
            "ReplicaSet": [self.replicasets.on_change, self.deployments.on_change],
            "Deployment": [self.deployments.on_change],
            "StatefulSet": [self.statefulsets.on_change],
            "Job": [self.jobs.on_change, self.ttl.on_change],
            "PersistentVolumeClaim": [self.volumes.on_change],
            "Service": [self.endpoints.on_change],
            "Certificate": [self.certificates.on_change],
        }
        self._everything: list[Handler] = [self.namespaces.on_change, self.gc.on_change]
        self._queues: list[WorkQueue[Any]] = [
            self.gc.finalizing,
            self.gc.orphaned,
            self.namespaces.queue,
            self.namespaces.defaults,
            self.deployments.queue,
            self.replicasets.queue,
            self.statefulsets.queue,
            self.jobs.queue,
            self.ttl.queue,
            self.volumes.releases,
            self.endpoints.queue,
        ]
        self._workers: list[asyncio.Task[None]] = []
        self._listening = False
        self._running = False

    async def start(self) -> None:
        """Register the listener, seed the cluster's standing objects and start the workers."""
        if self._running:
            return
        self.index.rebuild()
        if not self._listening:
            self._object_store.add_listener(self._on_change)
            self._listening = True
        self._running = True
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(q.run(), name=f"kubesim-controller:{q.name}") for q in self._queues]
        for task in self._workers:
            task.add_done_callback(_log_death)
        seed(self._object_store, self._settings)
        self._resume()

    async def stop(self) -> None:
        """Cancel and await every task the controllers own: workers, pod lifecycles, timers."""
        if not self._running:
            return
        self._running = False
        for queue in self._queues:
            queue.cancel_timers()
        await self.volumes.stop()
        await self.certificates.stop()
        await self.kubelet.stop()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def _on_change(self, change: Change) -> None:
        if not self._running:
            return
        try:
            self.index.apply(change)
            if change.type == "DELETED":
                self._ctx.events.forget(change.obj["metadata"].get("uid", ""))
            for handler in self._by_kind.get(change.rt.kind, ()):
                handler(change)
            for handler in self._everything:
                handler(change)
        except Exception:
            # A controller bug must not fail the client's write, which is already committed.
            log.exception("controllers: handling %s %s failed", change.type, change.rt.key)

    def _resume(self) -> None:
        """Queue work for objects stored before the controllers started (and the seeded ones)."""
        for rt in RESOURCE_TYPES:
            for obj in self._object_store.items(rt):
                change = Change(
                    rv=self._object_store.resource_version, rt=rt, type="MODIFIED", obj=obj, old=obj
                )
                if rt.kind == "Pod":
                    self.kubelet.resume(obj)
                    handlers = self._by_kind["Pod"][1:]
                else:
                    handlers = self._by_kind.get(rt.kind, [])
                for handler in [*handlers, *self._everything]:
                    handler(change)


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s died", task.get_name(), exc_info=task.exception())


__all__ = ["Controllers"]
