"""The Observer: one WatchSet for every store, its events turned into StoreEvents, readiness and progress.

One watch per kind (k8s.watching.STOREPLANE_WATCHES), never one per store. A single consumer task takes
the watch events in order, keeps a per-namespace index of the objects of tracked stores, writes the notes
(observing/messages.py) through the EventWriter, publishes progress changes, and wakes whoever waits on the
store (the provisioner's readiness and deletion waits, the reconciler's drift checks). Nothing here polls the
API: readiness is re-assessed when, and only when, an object of the store changes.

After a restart, the initial list replays every existing object and Event as ADDED: notes that an earlier
process already wrote (same object, reason and message, loaded from the database at start) are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from kubernetes_asyncio.client import ApiClient

from storeplane.engines.catalog import Catalog
from storeplane.events.models import EventSource, EventType, StoreEvent
from storeplane.events.writer import EventWriter, StoreEventDraft
from storeplane.k8s.watching import (
    Obj,
    WatchEvent,
    WatchSet,
    WatchSettings,
    WatchSpec,
)
from storeplane.labels import MANAGED_BY, MANAGED_BY_LABEL, STORE_ID_LABEL
from storeplane.observing.messages import (
    Note,
    kubernetes_event_note,
    object_notes,
    should_relay_count,
    signature,
)
from storeplane.observing.readiness import Assessment, NamespaceObjects, assess
from storeplane.observing.watches import STOREPLANE_WATCHES
from storeplane.stores.changes import ChangeKind, StoreChanges, publish_store_changed
from storeplane.stores.models import Store, StoreStatus

log = logging.getLogger(__name__)

Listener = Callable[[str], None]
"""Called (synchronously, in the consumer task) with a store id after each change to that store's objects."""


@dataclass(frozen=True)
class StoreView:
    """What the observer needs of a store row; refreshed by whoever changes the row (`track`)."""

    id: str
    name: str
    namespace: str
    release: str
    engine: str
    status: StoreStatus

    @classmethod
    def of(cls, store: Store) -> StoreView:
        return cls(store.id, store.name, store.namespace, store.helm_release, store.engine, store.status)


@dataclass(frozen=True)
class Orphan:
    """A namespace labelled as ours whose store does not exist (or is Deleted)."""

    namespace: str
    store_id: str | None


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    state: str


class Observer:
    """Owns the WatchSet and the consumer task; `async with Observer(...)` or start()/stop()."""

    def __init__(
        self,
        *,
        api: ApiClient,
        catalog: Catalog,
        writer: EventWriter,
        watch_settings: WatchSettings,
        changes: StoreChanges | None = None,
        specs: Iterable[WatchSpec] = STOREPLANE_WATCHES,
        queue_size: int = 10_000,
        batch_max: int = 100,
    ) -> None:
        self._catalog = catalog
        self._writer = writer
        self._changes = changes
        # Bounded: a consumer stuck on the database holds the watchers back instead of growing memory.
        self._queue: asyncio.Queue[WatchEvent] = asyncio.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        self._watches = WatchSet(api, specs, settings=watch_settings, sink=self._queue)
        self._task: asyncio.Task[None] | None = None
        self._stores: dict[str, StoreView] = {}
        self._by_namespace: dict[str, str] = {}
        self._namespaces: dict[str, Obj] = {}
        self._objects: dict[str, dict[str, dict[str, Obj]]] = defaultdict(lambda: defaultdict(dict))
        self._warnings: dict[str, dict[str, str]] = defaultdict(dict)
        self._signatures: dict[tuple[str, str, str], str] = {}
        self._relayed_counts: dict[str, int] = {}
        # Per store, the notes already written (loaded on the store's first note, not all at start: most
        # stores' histories are never replayed against, and one query per store has no parameter limit).
        self._written: dict[str, set[tuple[str, str, str, str]]] = {}
        self._steps: dict[str, frozenset[str]] = {}
        self._signals: dict[str, asyncio.Event] = {}
        self._listeners: list[Listener] = []
        self._orphans_logged: set[str] = set()
        self._caught_up = False

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("Observer already started")
        for store in await Store.exclude(status=StoreStatus.DELETED):
            self.track(store)
        self._task = asyncio.create_task(self._consume(), name="observer")
        self._task.add_done_callback(_log_death)
        await self._watches.start()

    async def stop(self) -> None:
        """Stop the watches (the producers), then the consumer; safe to call twice."""
        await self._watches.stop()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

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
            await self._drained()
            self._caught_up = True

    # -- stores ------------------------------------------------------------------------------------

    def track(self, store: Store) -> None:
        """Follow `store` (or refresh its status); untrack once it is Deleted."""
        if store.status == StoreStatus.DELETED:
            self.untrack(store.id)
            return
        view = StoreView.of(store)
        self._stores[store.id] = view
        self._by_namespace[view.namespace] = store.id
        self._notify(store.id)

    def untrack(self, store_id: str) -> None:
        view = self._stores.pop(store_id, None)
        if view is not None and self._by_namespace.get(view.namespace) == store_id:
            del self._by_namespace[view.namespace]
        self._written.pop(store_id, None)
        self._steps.pop(store_id, None)
        self._notify(store_id)
        self._signals.pop(store_id, None)

    def view(self, store_id: str) -> StoreView | None:
        return self._stores.get(store_id)

    def tracked(self) -> list[StoreView]:
        return list(self._stores.values())

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    # -- reading the caches ------------------------------------------------------------------------

    def objects(self, store_id: str) -> NamespaceObjects | None:
        view = self._stores.get(store_id)
        if view is None:
            return None
        return NamespaceObjects(
            namespace=self._namespaces.get(view.namespace),
            by_kind=self._objects.get(view.namespace, {}),
            warnings=self._warnings.get(view.namespace, {}),
        )

    def assess(self, store_id: str) -> Assessment | None:
        view = self._stores.get(store_id)
        objects = self.objects(store_id)
        engine = None if view is None else self._catalog.get(view.engine)
        if view is None or objects is None or engine is None:
            return None
        return assess(engine=engine, release=view.release, objects=objects)

    def steps_done(self, store: Store) -> frozenset[str] | None:
        """StepTracker (stores.progress): None until the watches have synced or for untracked stores."""
        if not self.synced or store.id not in self._stores:
            return None
        assessment = self.assess(store.id)
        return None if assessment is None else assessment.steps_done

    def resources(self, store_id: str) -> list[Resource]:
        """The store's Kubernetes objects with their state, from the caches."""
        objects = self.objects(store_id)
        if objects is None:
            return []
        return [
            Resource(kind, name, signature(kind, obj))
            for kind, by_name in sorted(objects.by_kind.items())
            if kind != "Secret"  # helm's release records: not the store's resources
            for name, obj in sorted(by_name.items())
        ]

    def namespace_present(self, namespace: str) -> bool:
        return namespace in self._namespaces

    def orphans(self) -> list[Orphan]:
        """Namespaces labelled managed-by=storeplane that no live store owns. Never deleted by Storeplane."""
        found = []
        for name, namespace in sorted(self._namespaces.items()):
            owner = (namespace["metadata"].get("labels") or {}).get(STORE_ID_LABEL)
            if owner is None or owner not in self._stores or self._stores[owner].namespace != name:
                found.append(Orphan(name, owner))
        return found

    # -- waiting -----------------------------------------------------------------------------------

    def signal(self, store_id: str) -> asyncio.Event:
        """Set at the next change to the store's objects. Take it before reading, then wait on it."""
        signal = self._signals.get(store_id)
        if signal is None:
            signal = self._signals[store_id] = asyncio.Event()
        return signal

    async def wait_ready(self, store_id: str) -> Assessment:
        """Until the store is ready, or its setup Job failed; wrap it in a timeout."""
        await self.wait_synced()
        while True:
            signal = self.signal(store_id)
            assessment = self.assess(store_id)
            if assessment is not None and (assessment.ready or assessment.failed is not None):
                return assessment
            await signal.wait()

    async def wait_namespace_gone(self, store_id: str, namespace: str) -> None:
        await self.wait_synced()
        while True:
            signal = self.signal(store_id)
            if namespace not in self._namespaces:
                return
            await signal.wait()

    # -- the consumer ------------------------------------------------------------------------------

    async def _drained(self) -> None:
        await self._queue.join()

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
        writes: list[tuple[WatchEvent, asyncio.Future[StoreEvent]]] = []
        changed: dict[str, None] = {}  # the stores touched, in order
        for event in batch:
            try:
                indexed = self._index(event)
                if indexed is None:
                    continue
                store_id, notes = indexed
                writes.extend(
                    (event, done) for done in await self._submit(store_id, notes, from_list=event.from_list)
                )
                changed[store_id] = None
            except Exception:
                log.exception("observing %s %s/%s failed", event.kind, event.namespace, event.name)
        for event, done in writes:
            try:
                await done
            except Exception:
                # One event that cannot be written (database down) must not end the observation.
                log.exception("observing %s %s/%s failed", event.kind, event.namespace, event.name)
        # After the commits: whoever a change wakes finds its notes in the database.
        for store_id in changed:
            try:
                await self._after_change(store_id)
            except Exception:
                log.exception("re-assessing store %s failed", store_id)

    def _index(self, event: WatchEvent) -> tuple[str, list[Note]] | None:
        """Update the caches with `event`; its store and the notes it deserves (None: no store's)."""
        deleted = event.type == "DELETED"
        obj = event.object
        if event.kind == "Namespace":
            store_id = self._index_namespace(event.name, obj, deleted=deleted)
            if store_id is None:
                return None
            if not deleted:
                return store_id, []
            note = Note(
                EventType.NORMAL,
                "NamespaceDeleted",
                f"Namespace {event.name} deleted",
                "Namespace",
                event.name,
            )
            return store_id, [note]
        store_id = self._by_namespace.get(event.namespace)
        if store_id is None:
            return None  # not a store namespace (the Event and helm Secret watches see the whole cluster)
        if event.kind == "Event":
            return store_id, self._event_notes(event)
        by_name = self._objects[event.namespace][event.kind]
        if deleted:
            by_name.pop(event.name, None)
        else:
            by_name[event.name] = obj
        if event.kind == "Secret":
            return store_id, []
        notes = self._object_notes(event)
        if deleted and self._stores[store_id].status == StoreStatus.DELETING:
            notes = []  # the deletion we asked for: "deleted" warnings would only alarm
        return store_id, notes

    def _index_namespace(self, name: str, obj: Obj, *, deleted: bool) -> str | None:
        if deleted:
            self._namespaces.pop(name, None)
            self._objects.pop(name, None)
            self._warnings.pop(name, None)
            self._orphans_logged.discard(name)
        else:
            self._namespaces[name] = obj
        labels = obj["metadata"].get("labels") or {}
        store_id = self._by_namespace.get(name)
        if store_id is None or labels.get(STORE_ID_LABEL) != store_id:
            if (
                not deleted
                and labels.get(MANAGED_BY_LABEL) == MANAGED_BY
                and name not in self._orphans_logged
            ):
                self._orphans_logged.add(name)
                log.warning(
                    "orphan namespace %s: labelled %s=%s but no live store owns it (store-id %s); "
                    "it is left alone",
                    name,
                    MANAGED_BY_LABEL,
                    MANAGED_BY,
                    labels.get(STORE_ID_LABEL),
                )
            return None
        return store_id

    def _event_notes(self, event: WatchEvent) -> list[Note]:
        obj = event.object
        uid = str(obj["metadata"].get("uid", event.name))
        if event.type == "DELETED":
            self._relayed_counts.pop(uid, None)
            return []
        involved = obj.get("involvedObject") or {}
        if obj.get("type") == "Warning" and involved.get("name"):
            self._warnings[event.namespace][str(involved["name"])] = (
                f"{obj.get('reason')}: {obj.get('message')}"
            )
        count = int(obj.get("count") or 1)
        if not should_relay_count(count, self._relayed_counts.get(uid)):
            return []
        self._relayed_counts[uid] = count
        note = kubernetes_event_note(obj)
        return [] if note is None else [note]

    def _object_notes(self, event: WatchEvent) -> list[Note]:
        key = (event.kind, event.namespace, event.name)
        deleted = event.type == "DELETED"
        previous = self._signatures.pop(key, None) if deleted else self._signatures.get(key)
        if not deleted:
            self._signatures[key] = signature(event.kind, event.object)
        return object_notes(event.kind, event.object, previous=previous, deleted=deleted)

    async def _submit(
        self, store_id: str, notes: list[Note], *, from_list: bool
    ) -> list[asyncio.Future[StoreEvent]]:
        """Queue the notes with the writer; the futures resolve once each is committed."""
        written = self._written.get(store_id)
        if written is None:
            loaded = await _written_notes(store_id)
            # write_note (the provisioner's task) may have loaded the same store while this one waited.
            written = self._written.setdefault(store_id, loaded)
            written |= loaded
        futures = []
        for note in notes:
            if from_list and note.key in written:
                continue  # replayed by a list: an earlier process (or watch) already wrote it
            written.add(note.key)
            draft = StoreEventDraft(
                store_id=store_id,
                type=note.type,
                reason=note.reason,
                message=note.message,
                source=EventSource.KUBERNETES,
                involved_kind=note.kind,
                involved_name=note.name,
            )
            futures.append(await self._writer.submit(draft))
        return futures

    async def write_note(self, store_id: str, note: Note) -> None:
        """Write a note the provisioner decides on (the ingress announcement when the store is ready)."""
        for done in await self._submit(store_id, [note], from_list=False):
            await done

    async def _after_change(self, store_id: str) -> None:
        if self._changes is not None and self.synced:
            assessment = self.assess(store_id)
            if assessment is not None and self._steps.get(store_id) != assessment.steps_done:
                self._steps[store_id] = assessment.steps_done
                # storeChanged pushes progress changes too; it needs the row (a primary-key read, once per
                # step change: a handful per store).
                store = await Store.get_or_none(id=store_id)
                if store is not None:
                    publish_store_changed(self._changes, store, ChangeKind.UPDATED)
        self._notify(store_id)

    def _notify(self, store_id: str) -> None:
        signal = self._signals.pop(store_id, None)
        if signal is not None:
            signal.set()
        for listener in self._listeners:
            try:
                listener(store_id)
            except Exception:
                log.exception("observer listener failed for store %s", store_id)


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the observer died", exc_info=task.exception())


async def _written_notes(store_id: str) -> set[tuple[str, str, str, str]]:
    """The keys (storeplane.observing.messages.Note.key) of the store's notes that are in the database."""
    rows = await StoreEvent.filter(source=EventSource.KUBERNETES, store_id=store_id).values_list(
        "involved_kind", "involved_name", "reason", "message"
    )
    return {(str(kind), str(name), str(reason), str(message)) for kind, name, reason, message in rows}
