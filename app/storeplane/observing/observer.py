"""The Observer: the watches, one consumer of their events, and whoever waits on a store.

One watch per kind (observing/watches.py), never one per store. The consumer task takes the watch events in
order and feeds them to the pure StoreIndex, writes the notes it returns (observing/notes.py), publishes
StoreChanged when a store's progress steps change, and then wakes whoever waits on the store (the
provisioner's readiness and deletion waits, the reconciler's drift checks). The stores themselves are learned
from the database once at start and then from the StoreChanged bus, synchronously as each change is
published: nobody tells the observer about a store. Nothing here polls the API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from storeplane.engines.catalog import Catalog
from storeplane.events.models import completed_jobs_of_live_stores
from storeplane.events.writer import EventWriter
from storeplane.k8s.client import KubeApi
from storeplane.k8s.watching import WatchEvent, WatchSet, WatchSettings, WatchSpec
from storeplane.observing.index import Orphan, Resource, StoreIndex
from storeplane.observing.notes import NoteWriter
from storeplane.observing.readiness import Assessment
from storeplane.observing.watches import storeplane_watches
from storeplane.stores.changes import ChangeKind, StoreChanged, StoreChanges
from storeplane.stores.records import StoreRecord, live_stores
from storeplane.tasks import TaskKind, start_task, stop_tasks

log = logging.getLogger(__name__)

Listener = Callable[[str], None]
"""Called (synchronously, in the consumer task) with a store id after each change to that store's objects."""


class Observer:
    """Owns the WatchSet and the consumer task; `async with Observer(...)` or start()/stop()."""

    def __init__(
        self,
        *,
        api: KubeApi,
        catalog: Catalog,
        writer: EventWriter,
        changes: StoreChanges,
        watch_settings: WatchSettings,
        features: frozenset[str] = frozenset(),
        specs: Iterable[WatchSpec] | None = None,
        queue_size: int = 10_000,
        batch_max: int = 100,
    ) -> None:
        """`features` (environment.py) pick the steps that apply and, unless `specs` is given, the watches."""
        self.index = StoreIndex(catalog, features=features)
        specs = storeplane_watches(features) if specs is None else specs
        self._notes = NoteWriter(writer)
        self._changes = changes
        # Bounded: a consumer stuck on the database holds the watchers back instead of growing memory.
        self._queue: asyncio.Queue[WatchEvent] = asyncio.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        self._watches = WatchSet(api, specs, settings=watch_settings, sink=self._queue)
        self._task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None
        self._signals: dict[str, asyncio.Event] = {}
        self._listeners: list[Listener] = []
        self._caught_up = False

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("Observer already started")
        # Listen first, then load: a change committed meanwhile is seen twice, never missed.
        self._unlisten = self._changes.listen(self._on_store_changed)
        for store in await live_stores():
            if self.index.store(store.id) is None:
                self.index.learn(store)
        for store_id, job_name in await completed_jobs_of_live_stores():
            self.index.remember_completed_job(store_id, job_name)
        self._task = start_task(self._consume(), kind=TaskKind.OBSERVER)
        await self._watches.start()

    async def stop(self) -> None:
        """Stop the watches (the producers), then the consumer; safe to call twice."""
        await self._watches.stop()
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        task, self._task = self._task, None
        if task is not None:
            await stop_tasks([task])

    async def __aenter__(self) -> Observer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def watches(self) -> WatchSet:
        return self._watches

    @property
    def synced(self) -> bool:
        return self._watches.synced

    async def wait_synced(self) -> None:
        await self._watches.wait_synced()
        if not self._caught_up:
            # The watchers have listed; the consumer may still be indexing what they delivered. Only once:
            # later, a busy queue never empties, and every waiter would wait for all stores' events.
            await self._queue.join()
            self._caught_up = True

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    # -- reading (memory only) ---------------------------------------------------------------------

    def store(self, store_id: str) -> StoreRecord | None:
        return self.index.store(store_id)

    def assess(self, store_id: str) -> Assessment | None:
        return self.index.assess(store_id)

    @property
    def features(self) -> frozenset[str]:
        """StepTracker: the environment's features, which decide the steps that apply."""
        return self.index.features

    def steps_done(self, store: StoreRecord) -> frozenset[str] | None:
        """StepTracker (stores/progress.py): None until the watches have synced, or for an unknown store."""
        return self.index.steps_done(store.id) if self.synced else None

    def resources(self, store_id: str) -> list[Resource]:
        return self.index.resources(store_id)

    def namespace_present(self, namespace: str) -> bool:
        return self.index.namespace_present(namespace)

    def orphans(self) -> list[Orphan]:
        return self.index.orphans()

    # -- waiting -----------------------------------------------------------------------------------

    def _signal(self, store_id: str) -> asyncio.Event:
        """Set at the next change to the store or its objects. Take it before reading, then wait on it."""
        signal = self._signals.get(store_id)
        if signal is None:
            signal = self._signals[store_id] = asyncio.Event()
        return signal

    async def wait_ready(self, store_id: str) -> Assessment:
        """Until the store is ready, or its setup Job failed; wrap it in a timeout."""
        await self.wait_synced()
        while True:
            signal = self._signal(store_id)
            assessment = self.index.assess(store_id)
            if assessment is not None and (assessment.ready or assessment.failed is not None):
                return assessment
            await signal.wait()

    async def wait_namespace_gone(self, store_id: str, namespace: str) -> None:
        await self.wait_synced()
        while True:
            signal = self._signal(store_id)
            if not self.index.namespace_present(namespace):
                return
            await signal.wait()

    # -- the store bus -----------------------------------------------------------------------------

    def _on_store_changed(self, change: StoreChanged) -> None:
        # Runs inside the bus's publish, right after the change was committed: memory only.
        self.index.learn(change.store)
        if change.kind == ChangeKind.DELETED:
            self._notes.forget(change.store.id)
        self._notify(change.store.id)

    # -- the consumer ------------------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # What else has queued meanwhile goes with it: the notes of the whole batch share the writer's
            # commits. Waiting for each event's own commit would let one event through per turn of the loop,
            # and each turn waits for every subscriber the previous event woke: with many subscribers the
            # observation then falls behind the cluster, seconds behind and growing.
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._handle(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _handle(self, batch: list[WatchEvent]) -> None:
        """Index every event of the batch, write their notes, then re-assess each store they touched."""
        writes: list[tuple[WatchEvent, asyncio.Future[Any]]] = []
        touched: dict[str, None] = {}  # in order
        for event in batch:
            try:
                seen = self.index.apply(event)
                if seen.orphan is not None:
                    log.warning(
                        "orphan namespace %s: labelled as Storeplane's but no live store owns it "
                        "(store-id %s); it is left alone",
                        seen.orphan.namespace,
                        seen.orphan.store_id,
                    )
                if seen.store_id is None:
                    continue
                futures = await self._notes.submit(seen.store_id, seen.notes, from_list=event.from_list)
                writes.extend((event, done) for done in futures)
                touched[seen.store_id] = None
            except Exception:
                log.exception("observing %s %s/%s failed", event.kind, event.namespace, event.name)
        for event, done in writes:
            try:
                await done
            except Exception:
                # One event that cannot be written (database down) must not end the observation.
                log.exception("observing %s %s/%s failed", event.kind, event.namespace, event.name)
        # After the commits: whoever a change wakes finds its notes in the database.
        for store_id in touched:
            self._publish_progress(store_id)
            self._notify(store_id)

    def _publish_progress(self, store_id: str) -> None:
        store = self.index.store(store_id)
        if store is not None and self.synced and self.index.progress_changed(store_id):
            # storeChanged pushes progress too: the store as last committed, with its new steps. A copy: each
            # publish is a snapshot of its own, and subscribers share one rendering per snapshot (fanout.py).
            self._changes.publish(StoreChanged(store=dataclasses.replace(store), kind=ChangeKind.UPDATED))

    def _notify(self, store_id: str) -> None:
        signal = self._signals.pop(store_id, None)
        if signal is not None:
            signal.set()
        for listener in self._listeners:
            try:
                listener(store_id)
            except Exception:
                log.exception("observer listener failed for store %s", store_id)
