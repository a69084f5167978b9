"""The observer's index: what the watches say about each store, and the notes each change deserves. Pure.

No I/O and no asyncio: it is fed the live stores (`learn`, from the StoreChanged bus) and watch events
(`apply`), and answers from memory: readiness, progress, resources and orphans. A namespace belongs to a
store when its `storeplane.io/store-id` label names a live store whose namespace it is; the objects in it
(Pods, workloads, Jobs, volumes, Ingresses, Certificates, helm's release Secrets, core/v1 Events) belong to
that store.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from storeplane.engines.catalog import Catalog
from storeplane.events.models import EventType
from storeplane.k8s.watching import Obj, WatchEvent
from storeplane.labels import MANAGED_BY, MANAGED_BY_LABEL, STORE_ID_LABEL
from storeplane.observing.messages import (
    Note,
    kubernetes_event_note,
    object_notes,
    should_relay_count,
    signature,
)
from storeplane.observing.readiness import Assessment, NamespaceObjects, assess, job_state
from storeplane.stores.models import StoreStatus
from storeplane.stores.records import StoreRecord


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


@dataclass(frozen=True)
class Observation:
    """What one watch event meant: the store it touched (None: no live store's) and its notes."""

    store_id: str | None
    notes: list[Note] = field(default_factory=list)
    orphan: Orphan | None = None
    """Set the first time a namespace labelled managed-by=storeplane is seen without a live store."""


_IGNORED = Observation(None)


class StoreIndex:
    def __init__(self, catalog: Catalog, *, features: frozenset[str] = frozenset()) -> None:
        self._catalog = catalog
        self.features = features
        """The environment's features (engines.yaml `when`): which steps apply, decided once at start."""
        self._stores: dict[str, StoreRecord] = {}
        self._by_namespace: dict[str, str] = {}
        self._namespaces: dict[str, Obj] = {}
        self._objects: dict[str, dict[str, dict[str, Obj]]] = defaultdict(lambda: defaultdict(dict))
        self._warnings: dict[str, dict[str, str]] = defaultdict(dict)
        # namespace -> Jobs seen complete: a Job deleted by its TTL afterwards does not undo a finished step.
        self._completed_jobs: dict[str, set[str]] = defaultdict(set)
        self._signatures: dict[tuple[str, str, str], str] = {}
        self._relayed_counts: dict[str, int] = {}
        self._orphans_seen: set[str] = set()
        self._steps: dict[str, frozenset[str]] = {}

    # -- stores ------------------------------------------------------------------------------------

    def learn(self, store: StoreRecord) -> None:
        """Follow `store` as committed (any change of status or URLs); forget it once Deleted."""
        if not store.live:
            self.forget(store.id)
            return
        known = self._stores.get(store.id)
        if known is not None and store.updated_at < known.updated_at:
            return  # a late copy of an older state (a create announced after a delete committed)
        self._stores[store.id] = store
        self._by_namespace[store.namespace] = store.id

    def forget(self, store_id: str) -> None:
        store = self._stores.pop(store_id, None)
        if store is not None and self._by_namespace.get(store.namespace) == store_id:
            del self._by_namespace[store.namespace]
        self._steps.pop(store_id, None)

    def remember_completed_job(self, store_id: str, job_name: str) -> None:
        """A Job of the store known complete from its history (the watches may never see it again)."""
        store = self._stores.get(store_id)
        if store is not None:
            self._completed_jobs[store.namespace].add(job_name)

    def store(self, store_id: str) -> StoreRecord | None:
        return self._stores.get(store_id)

    def stores(self) -> list[StoreRecord]:
        return list(self._stores.values())

    # -- watch events ------------------------------------------------------------------------------

    def apply(self, event: WatchEvent) -> Observation:
        """Update the index with `event`; the store it belongs to and the notes it deserves."""
        if event.kind == "Namespace":
            return self._apply_namespace(event)
        store_id = self._owner_of_namespace(event.namespace)
        if store_id is None:
            return _IGNORED  # not a store namespace (the Event and helm Secret watches see the whole cluster)
        store = self._stores[store_id]
        engine = self._catalog.get(store.engine)
        subject = event.name
        if event.kind == "Event":
            subject = str((event.object.get("involvedObject") or {}).get("name", ""))
        if engine is not None and engine.is_quiet(subject, store.helm_release):
            return Observation(store_id)
        if event.kind == "Event":
            return Observation(store_id, self._event_notes(event))
        deleted = event.type == "DELETED"
        by_name = self._objects[event.namespace][event.kind]
        if deleted:
            by_name.pop(event.name, None)
        else:
            by_name[event.name] = event.object
            if (
                event.kind == "Job"
                and engine is not None
                and engine.setup_job is not None
                and engine.setup_job.matches(event.name, store.helm_release)
                and job_state(event.object) == "complete"
            ):
                self._completed_jobs[event.namespace].add(event.name)
        if event.kind == "Secret":
            return Observation(store_id)
        notes = self._object_notes(event)
        if deleted and store.status == StoreStatus.DELETING:
            notes = []  # the deletion we asked for: "deleted" warnings would only alarm
        return Observation(store_id, notes)

    def _owner_of_namespace(self, namespace: str) -> str | None:
        """The live store whose namespace this is, according to the namespace's own store-id label."""
        store_id = self._by_namespace.get(namespace)
        if store_id is None:
            return None
        labels = (self._namespaces.get(namespace) or {}).get("metadata", {}).get("labels") or {}
        # Until the Namespace itself is seen (watches list concurrently), the store's own record vouches for
        # it: provisioning labels the namespace before anything is installed in it.
        if namespace in self._namespaces and labels.get(STORE_ID_LABEL) != store_id:
            return None
        return store_id

    def _apply_namespace(self, event: WatchEvent) -> Observation:
        name, obj, deleted = event.name, event.object, event.type == "DELETED"
        if deleted:
            self._namespaces.pop(name, None)
            self._objects.pop(name, None)
            self._warnings.pop(name, None)
            self._completed_jobs.pop(name, None)
            self._orphans_seen.discard(name)
        else:
            self._namespaces[name] = obj
        labels = obj["metadata"].get("labels") or {}
        store_id = self._by_namespace.get(name)
        if store_id is None or labels.get(STORE_ID_LABEL) != store_id:
            orphan = None
            if not deleted and labels.get(MANAGED_BY_LABEL) == MANAGED_BY and name not in self._orphans_seen:
                self._orphans_seen.add(name)
                orphan = Orphan(name, labels.get(STORE_ID_LABEL))
            return Observation(None, orphan=orphan)
        if not deleted:
            return Observation(store_id)
        note = Note(EventType.NORMAL, "NamespaceDeleted", f"Namespace {name} deleted", "Namespace", name)
        return Observation(store_id, [note])

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

    # -- answers -----------------------------------------------------------------------------------

    def objects(self, store_id: str) -> NamespaceObjects | None:
        store = self._stores.get(store_id)
        if store is None:
            return None
        return NamespaceObjects(
            namespace=self._namespaces.get(store.namespace),
            by_kind=self._objects.get(store.namespace, {}),
            warnings=self._warnings.get(store.namespace, {}),
            completed_jobs=frozenset(self._completed_jobs.get(store.namespace, ())),
        )

    def assess(self, store_id: str) -> Assessment | None:
        store = self._stores.get(store_id)
        objects = self.objects(store_id)
        engine = None if store is None else self._catalog.get(store.engine)
        if store is None or objects is None or engine is None:
            return None
        return assess(engine=engine, release=store.helm_release, objects=objects, features=self.features)

    def steps_done(self, store_id: str) -> frozenset[str] | None:
        assessment = self.assess(store_id)
        return None if assessment is None else assessment.steps_done

    def progress_changed(self, store_id: str) -> bool:
        """Whether the store's done steps differ from the last time this returned True for it."""
        done = self.steps_done(store_id)
        if done is None or self._steps.get(store_id) == done:
            return False
        self._steps[store_id] = done
        return True

    def resources(self, store_id: str) -> list[Resource]:
        """The store's Kubernetes objects with their state (helm's release Secrets are not the store's)."""
        objects = self.objects(store_id)
        if objects is None:
            return []
        return [
            Resource(kind, name, signature(kind, obj))
            for kind, by_name in sorted(objects.by_kind.items())
            if kind != "Secret"
            for name, obj in sorted(by_name.items())
        ]

    def namespace_present(self, namespace: str) -> bool:
        return namespace in self._namespaces

    def orphans(self) -> list[Orphan]:
        """Namespaces labelled managed-by=storeplane that no live store owns. Never deleted by Storeplane."""
        found = []
        for name, namespace in sorted(self._namespaces.items()):
            owner = (namespace["metadata"].get("labels") or {}).get(STORE_ID_LABEL)
            store = None if owner is None else self._stores.get(owner)
            if store is None or store.namespace != name:
                found.append(Orphan(name, owner))
        return found
