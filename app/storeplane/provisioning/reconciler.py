"""The reconciler: resume what a previous process left in flight, then follow drift from the watches.

On start, and then every `sweep_interval_seconds`: every Pending or Provisioning store that no task serves is
submitted again (a release that a killed helm left pending-install/-upgrade is repaired by the provisioner),
every such Deleting store is deleted again. So a store whose request was lost (a crash, a database error
between committing a status and handing the work over) converges without a restart. Once the watches have
synced, Ready stores are checked against the caches and orphan namespaces are reported.

Continuously, with no periodic per-store polling: the Observer calls `_on_change` whenever a store or one of
its objects changes, and a Ready store is judged then (observing/drift.py). The watches relist after a 410 or
an outage, so a change missed while disconnected still arrives as an event; that is why no safety resync runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from types import TracebackType

from storeplane.events.writer import EventWriter
from storeplane.observing.drift import judge_drift
from storeplane.observing.index import Orphan
from storeplane.observing.observer import Observer
from storeplane.provisioning.protocol import Provisioner
from storeplane.stores.changes import StoreChanges
from storeplane.stores.models import Store, StoreStatus
from storeplane.stores.transitions import TransitionConflict, transition
from storeplane.tasks import TaskKind, start_task, stop_tasks

log = logging.getLogger(__name__)

# A periodic sweep leaves alone a store changed this recently: its own request is handing it over now.
SETTLED_SECONDS = 10.0


class Reconciler:
    def __init__(
        self,
        *,
        observer: Observer,
        provisioner: Provisioner,
        writer: EventWriter,
        changes: StoreChanges,
        drift_grace_seconds: float,
        sweep_interval_seconds: float,
    ) -> None:
        self._observer = observer
        self._provisioner = provisioner
        self._writer = writer
        self._changes = changes
        self._grace = drift_grace_seconds
        self._dirty: set[str] = set()
        self._due: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._sweep_interval = sweep_interval_seconds
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._resumed = asyncio.Event()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("Reconciler already started")
        self._observer.add_listener(self._on_change)
        try:
            # Before start() returns, so before the API serves: a store created meanwhile is handed over by
            # its own request, never by this pass ahead of its Created event.
            await self.sweep()
        except Exception:
            log.warning("resuming the stores in flight failed; the periodic sweep tries again", exc_info=True)
        self._task = start_task(self._run(), kind=TaskKind.RECONCILER)

    async def stop(self) -> None:
        task, self._task = self._task, None
        sweeper, self._sweeper = self._sweeper, None
        if task is None:
            return
        self._observer.remove_listener(self._on_change)
        await stop_tasks([task, *([sweeper] if sweeper else [])])

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

    async def sweep(self, *, settled_for: float = 0.0) -> int:
        """Resume every store in flight that no task serves and that has not changed for `settled_for`
        seconds (a store just created or deleted is being handed over by its request); how many."""
        resumed = 0
        in_flight = await Store.filter(
            status__in=[StoreStatus.PENDING, StoreStatus.PROVISIONING, StoreStatus.DELETING],
            updated_at__lte=datetime.now(UTC) - timedelta(seconds=settled_for),
        ).values_list("id", "status")
        for store_id, status in in_flight:
            if self._provisioner.busy(store_id):
                continue
            log.info("resuming store %s (%s): no task serves it", store_id, status)
            if status == StoreStatus.DELETING:
                await self._provisioner.request_delete(store_id)
            else:
                await self._provisioner.submit(store_id)
            resumed += 1
        return resumed

    async def _sweep_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self.sweep(settled_for=SETTLED_SECONDS)
            except Exception:
                # The database may be locked or down for a while: the next sweep tries again.
                log.warning("the sweep for stores in flight failed", exc_info=True)

    async def _run(self) -> None:
        self._sweeper = start_task(self._sweep_periodically(), kind=TaskKind.SWEEPER)
        await self._observer.wait_synced()
        for orphan in self._observer.orphans():
            log.warning(
                "orphan namespace %s (store-id label %s): no live store owns it; not deleted",
                orphan.namespace,
                orphan.store_id,
            )
        self._dirty.update(s.id for s in self._observer.index.stores() if s.status == StoreStatus.READY)
        self._wake.set()
        self._resumed.set()
        loop = asyncio.get_running_loop()
        while True:
            timeout = max(0.0, min(self._due.values()) - loop.time()) if self._due else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            due = {store_id for store_id, at in self._due.items() if at <= loop.time()}
            dirty, self._dirty = self._dirty | due, set()
            for store_id in sorted(dirty):
                try:
                    await self._check(store_id, now=loop.time())
                except Exception:
                    log.exception("drift check of store %s failed", store_id)

    async def _check(self, store_id: str, *, now: float) -> None:
        store = self._observer.store(store_id)
        drift = judge_drift(
            store,
            self._observer.assess(store_id),
            due=self._due.pop(store_id, None),
            now=now,
            grace=self._grace,
        )
        if drift.due is not None:
            self._due[store_id] = drift.due
        if store is None or drift.failure is None:
            return
        # The record is the observer's, as last committed: a conflict means the API or provisioning moved it.
        with contextlib.suppress(TransitionConflict):
            await transition(
                store, StoreStatus.FAILED, message=drift.failure, writer=self._writer, changes=self._changes
            )
            log.warning("store %s drifted: %s", store_id, drift.failure)
