"""The reconciler: resume what a previous process left in flight, then follow drift from the watches.

On start: every Pending or Provisioning store is submitted again (a release that a killed helm left
pending-install/-upgrade is repaired by the provisioner), every Deleting store is deleted again; once the
watches have synced, Ready stores are checked against the caches and orphan namespaces are reported.

Continuously, with no periodic per-store polling: the Observer calls `_on_change` whenever an object of a
store changes, and a Ready store is checked then. Drift:
- its namespace, helm release, a workload or its ingress deleted out of band -> Failed at once, the reason
  naming what is gone;
- a workload present but not ready (a pod crashing, a probe failing) -> the Observer has already written a
  Warning event; if it is still not ready `drift_grace_seconds` later, Failed naming the pod. The grace keeps
  a rolling restart or a rescheduled pod from failing a healthy store.
The watches relist after a 410 or an outage, so a change missed while disconnected still arrives as an event;
that is why no safety resync runs.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from storeplane.observing.observer import Observer, Orphan
from storeplane.provisioning.provisioner import KubeProvisioner
from storeplane.stores.models import Store, StoreStatus

log = logging.getLogger(__name__)

# Proposed as a setting (STOREPLANE_DRIFT_GRACE_SECONDS); until then the server passes it explicitly.
DEFAULT_DRIFT_GRACE_SECONDS = 60.0


class Reconciler:
    def __init__(
        self,
        *,
        observer: Observer,
        provisioner: KubeProvisioner,
        drift_grace_seconds: float = DEFAULT_DRIFT_GRACE_SECONDS,
    ) -> None:
        self._observer = observer
        self._provisioner = provisioner
        self._grace = drift_grace_seconds
        self._dirty: set[str] = set()
        self._suspect: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resumed = asyncio.Event()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("Reconciler already started")
        self._observer.add_listener(self._on_change)
        self._task = asyncio.create_task(self._run(), name="reconciler")
        self._task.add_done_callback(_log_death)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._observer.remove_listener(self._on_change)
        task.cancel()
        await asyncio.wait({task})

    async def __aenter__(self) -> Reconciler:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_resumed(self) -> None:
        """Until the start-up pass (resume, sync, first drift check, orphan report) is done."""
        await self._resumed.wait()

    def orphans(self) -> list[Orphan]:
        """Namespaces labelled as Storeplane's that no live store owns; reported, never deleted."""
        return self._observer.orphans()

    def _on_change(self, store_id: str) -> None:
        self._dirty.add(store_id)
        self._wake.set()

    async def _run(self) -> None:
        for store in await Store.filter(
            status__in=[StoreStatus.PENDING, StoreStatus.PROVISIONING, StoreStatus.DELETING]
        ):
            log.info("resuming store %s (%s)", store.id, store.status)
            if store.status == StoreStatus.DELETING:
                await self._provisioner.request_delete(store.id)
            else:
                await self._provisioner.submit(store.id)
        await self._observer.wait_synced()
        for orphan in self._observer.orphans():
            log.warning(
                "orphan namespace %s (store-id label %s): no live store owns it; not deleted",
                orphan.namespace,
                orphan.store_id,
            )
        self._dirty.update(view.id for view in self._observer.tracked() if view.status == StoreStatus.READY)
        self._wake.set()
        self._resumed.set()
        loop = asyncio.get_running_loop()
        while True:
            timeout = None
            if self._suspect:
                timeout = max(0.0, min(self._suspect.values()) - loop.time())
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            due = {store_id for store_id, at in self._suspect.items() if at <= loop.time()}
            dirty, self._dirty = self._dirty | due, set()
            for store_id in sorted(dirty):
                try:
                    await self._check(store_id)
                except Exception:
                    log.exception("drift check of store %s failed", store_id)

    async def _check(self, store_id: str) -> None:
        view = self._observer.view(store_id)
        assessment = self._observer.assess(store_id)
        if view is None or view.status != StoreStatus.READY or assessment is None:
            self._suspect.pop(store_id, None)
            return
        if assessment.missing:
            self._suspect.pop(store_id, None)
            await self._fail(store_id, "Drift: " + "; ".join(assessment.missing))
            return
        if not assessment.unready_workloads:
            self._suspect.pop(store_id, None)
            return
        loop = asyncio.get_running_loop()
        since = self._suspect.setdefault(store_id, loop.time() + self._grace)
        if since <= loop.time():
            self._suspect.pop(store_id, None)
            detail = "; ".join(assessment.unready_workloads)
            await self._fail(store_id, f"Drift: not ready for {self._grace:g}s: {detail}")

    async def _fail(self, store_id: str, reason: str) -> None:
        if await self._provisioner.mark_failed(store_id, expected=StoreStatus.READY, reason=reason):
            log.warning("store %s drifted: %s", store_id, reason)


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the reconciler died", exc_info=task.exception())
