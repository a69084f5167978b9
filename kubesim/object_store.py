"""In-memory object storage with one resourceVersion counter, an event log and watch fan-out."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubesim import errors, validation
from kubesim.defaults import apply_defaults, initial_status
from kubesim.jsondata import clone
from kubesim.resources import RESOURCE_TYPES, ResourceType, resource
from kubesim.selectors import FieldSelector, LabelSelector
from kubesim.settings import Settings
from kubesim.timeutil import now_rfc3339

Obj = dict[str, Any]
CLOSED = b""  # queue sentinel: the watch was closed by the server
NAMESPACES = resource("", "namespaces")
# Kinds whose metadata.generation tracks spec changes (the real strategies set it for these).
_GENERATION_KINDS = {
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Ingress",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Pod",
}
_UNCHANGING_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)


@dataclass(frozen=True)
class Change:
    """One committed write: what watchers and the event log see."""

    rv: int
    rt: ResourceType
    type: str  # ADDED, MODIFIED or DELETED
    obj: Obj
    old: Obj | None
    _lines: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def line(self, kind: str) -> bytes:
        """The watch line for this change as `kind`, encoded once however many watches send it."""
        encoded = self._lines.get(kind)
        if encoded is None:
            encoded = self._lines[kind] = watch_line(kind, self.obj)
        return encoded


def watch_line(kind: str, obj: Obj) -> bytes:
    """One watch event as the API server streams it: a JSON object and a newline."""
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


@dataclass(eq=False)
class Watch:
    """One open watch: its filter and the queue the HTTP handler drains."""

    rt: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[bytes]  # encoded watch lines
    limit: int
    closed_reason: str | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def _matches(self, obj: Obj) -> bool:
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels") or {}) and self.fields.matches(obj)

    def offer(self, change: Change) -> None:
        """Queue the event this watch should see for a change, translating selector entry and exit."""
        if self.closed.is_set():
            return
        now = self._matches(change.obj)
        before = change.old is not None and self._matches(change.old)
        kind: str | None
        if change.type == "DELETED":
            kind = "DELETED" if now else None
        elif change.type == "ADDED":
            kind = "ADDED" if now else None
        elif now and before:
            kind = "MODIFIED"
        elif now:
            kind = "ADDED"  # the object started to match the selector
        elif before:
            kind = "DELETED"  # it stopped matching: the real server reports it gone for this watch
        else:
            kind = None
        if kind is not None:
            self.send(change.line(kind))

    def send(self, line: bytes) -> None:
        if self.queue.qsize() >= self.limit:
            self.close("watch client too slow: its event buffer is full")
            return
        self.queue.put_nowait(line)

    def close(self, reason: str) -> None:
        if not self.closed.is_set():
            self.closed_reason = reason
            self.closed.set()
            # The sentinel wakes the handler blocked on the queue; it bypasses the size limit on purpose.
            self.queue.put_nowait(CLOSED)


Listener = Callable[[Change], None]


class ObjectStore:
    """All objects of all types, changed only through methods that bump the resourceVersion."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {rt.key: {} for rt in RESOURCE_TYPES}
        self._rv = 0
        self._log: deque[Change] = deque(maxlen=settings.event_log_size)
        # Every event with rv above this is still in the log; resuming from below it is answered 410.
        self._compacted_rv = 0
        self._watches: dict[str, set[Watch]] = {rt.key: set() for rt in RESOURCE_TYPES}
        self._listeners: list[Listener] = []
        # What each field manager last applied (server-side apply), by uid then manager, for pruning.
        self.applied: dict[str, dict[str, Obj]] = {}
        self._expire_next_watch = False

    # -- reading -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """A deep copy of the stored object, or None."""
        obj = self._objects[rt.key].get((namespace if rt.namespaced else "", name))
        return clone(obj) if obj is not None else None

    def peek(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """The stored object itself; callers must not modify it."""
        return self._objects[rt.key].get((namespace if rt.namespaced else "", name))

    def items(self, rt: ResourceType, namespace: str | None = None) -> Iterable[Obj]:
        """Stored objects of a type (not copies), optionally in one namespace, unordered."""
        objs = self._objects[rt.key]
        if namespace is None or not rt.namespaced:
            return list(objs.values())
        return [o for (ns, _), o in objs.items() if ns == namespace]

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> list[Obj]:
        """Matching objects ordered by namespace and name, as the real list is."""
        keyed = sorted(self._objects[rt.key].items())
        out = []
        for (ns, _), obj in keyed:
            if namespace is not None and rt.namespaced and ns != namespace:
                continue
            if labels.matches(obj["metadata"].get("labels") or {}) and fields.matches(obj):
                out.append(obj)
        return out

    def namespace_phase(self, namespace: str) -> str | None:
        ns = self.peek(NAMESPACES, "", namespace)
        if ns is None:
            return None
        return str(ns.get("status", {}).get("phase", "Active"))

    # -- writing -------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Obj, *, dry_run: bool = False) -> Obj:
        """Create an object the way the API server does: validate, default, stamp metadata."""
        obj = clone(body)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(rt, namespace, str(meta["generateName"]))
        name = str(meta.get("name") or "")
        validation.validate_create(rt, obj)
        if rt.namespaced:
            self._require_live_namespace(rt, namespace, name)
        key = (namespace if rt.namespaced else "", name)
        if key in self._objects[rt.key]:
            raise errors.already_exists(rt.plural, rt.group, name)
        for drop in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(drop, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.kind in _GENERATION_KINDS:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.has_status:
            obj["status"] = initial_status(rt, obj)
        apply_defaults(rt, obj)
        if dry_run:
            meta["resourceVersion"] = ""
            return obj
        self._commit(rt, "ADDED", obj, None)
        return obj

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Obj:
        """PUT: replace the object, keeping what the server owns; on `status`, replace only the status."""
        old = self.peek(rt, namespace, name)
        if old is None:
            raise errors.not_found(rt.plural, rt.group, name)
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({body_meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        sent_rv = str(body_meta.get("resourceVersion") or "")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        if subresource == "status":
            new = clone(old)
            new["status"] = clone(body.get("status", {}))
        else:
            new = clone(body)
            new["apiVersion"] = rt.api_version
            new["kind"] = rt.kind
            meta = new.setdefault("metadata", {})
            meta["name"] = name
            if rt.namespaced:
                meta["namespace"] = namespace
            for key in _UNCHANGING_META:
                if key in old["metadata"]:
                    meta[key] = old["metadata"][key]
                else:
                    meta.pop(key, None)
            if rt.has_status:
                # The main resource ignores status changes; only the status subresource writes them.
                new["status"] = clone(old.get("status", {}))
            apply_defaults(rt, new)
            validation.validate_update(rt, old, new)
        return self._update(rt, old, new, dry_run=dry_run)

    def write_internal(self, rt: ResourceType, obj: Obj) -> Obj:
        """Write a whole object as a controller would (spec, status and metadata together), no checks."""
        name = obj["metadata"]["name"]
        old = self.peek(rt, obj["metadata"].get("namespace", ""), name)
        if old is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return self._update(rt, old, clone(obj), dry_run=False)

    def _update(self, rt: ResourceType, old: Obj, new: Obj, *, dry_run: bool) -> Obj:
        meta = new["metadata"]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        meta.pop("selfLink", None)
        if rt.kind in _GENERATION_KINDS and _spec_of(new) != _spec_of(old):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if new == old:
            return old  # a no-op write does not bump the resourceVersion
        if dry_run:
            return new
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and old["metadata"].get("finalizers"):
            return self._remove(rt, new)  # the last finalizer is gone: the deletion completes
        self._commit(rt, "MODIFIED", new, old)
        return new

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
        grace_period: int | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete as the API server does; returns the object and whether it is gone already."""
        old = self.peek(rt, namespace, name)
        if old is None:
            raise errors.not_found(rt.plural, rt.group, name)
        meta = old["metadata"]
        preconditions = preconditions or {}
        if preconditions.get("uid") and preconditions["uid"] != meta["uid"]:
            raise errors.conflict(rt.plural, rt.group, name)
        if (
            preconditions.get("resourceVersion")
            and preconditions["resourceVersion"] != meta["resourceVersion"]
        ):
            raise errors.conflict(rt.plural, rt.group, name)
        if dry_run:
            return old, False
        new = clone(old)
        new_meta = new["metadata"]
        finalizers: list[str] = list(new_meta.get("finalizers") or [])
        if rt is NAMESPACES:
            # Namespaces go Terminating; the namespace controller empties them, then removes the namespace.
            new_meta.setdefault("deletionTimestamp", now_rfc3339())
            new_meta.setdefault("deletionGracePeriodSeconds", 0)
            new.setdefault("status", {})["phase"] = "Terminating"
            return self._update(rt, old, new, dry_run=False), False
        policy = propagation or _default_propagation(rt)
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        graceful = rt.kind == "Pod" and grace_period != 0 and new.get("spec", {}).get("nodeName")
        if finalizers or graceful:
            if new_meta.get("deletionTimestamp"):
                return old, False
            new_meta["finalizers"] = finalizers
            if not finalizers:
                del new_meta["finalizers"]
            new_meta["deletionTimestamp"] = now_rfc3339()
            default_grace = new.get("spec", {}).get("terminationGracePeriodSeconds", 30)
            new_meta["deletionGracePeriodSeconds"] = (
                grace_period if grace_period is not None else default_grace if graceful else 0
            )
            self._commit(rt, "MODIFIED", new, old)
            return new, False
        return self._remove(rt, new), True

    def remove_now(self, rt: ResourceType, obj: Obj) -> Obj | None:
        """Remove an object at once (a kubelet confirming a pod is gone); None if it already is."""
        live = self.peek(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if live is None or live["metadata"]["uid"] != obj["metadata"]["uid"]:
            return None
        return self._remove(rt, clone(live))

    def _remove(self, rt: ResourceType, obj: Obj) -> Obj:
        old = self.peek(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        self._commit(rt, "DELETED", obj, old)
        self.applied.pop(obj["metadata"]["uid"], None)
        return obj

    def _commit(self, rt: ResourceType, kind: str, obj: Obj, old: Obj | None) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        meta = obj["metadata"]
        key = (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        if kind == "DELETED":
            self._objects[rt.key].pop(key, None)
        else:
            self._objects[rt.key][key] = obj
        change = Change(rv=self._rv, rt=rt, type=kind, obj=obj, old=old)
        if len(self._log) == self._log.maxlen:
            self._compacted_rv = self._log[0].rv
        self._log.append(change)
        for watch in list(self._watches[rt.key]):
            watch.offer(change)
        for listener in self._listeners:
            listener(change)

    def _require_live_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        phase = self.namespace_phase(namespace)
        if phase is None:
            raise errors.not_found("namespaces", "", namespace)
        if phase == "Terminating":
            raise errors.forbidden(
                f'{rt.plural} "{name}" is forbidden: unable to create new content in namespace {namespace} '
                "because it is being terminated",
                plural=rt.plural,
                group=rt.group,
                name=name,
            )

    def _generate_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"  # the real generator avoids vowels and look-alikes
        while True:
            name = prefix[:58] + "".join(secrets.choice(alphabet) for _ in range(5))
            if self.peek(rt, namespace, name) is None:
                return name

    # -- watching ------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` synchronously after every committed change (the simulated controllers)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def open_watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        since: int | None,
        initial: bool,
        initial_end_bookmark: bool,
    ) -> Watch:
        """Register a watch; replay either the current state (`initial`) or the log after `since`."""
        if since is not None and self._expire_next_watch:
            self._expire_next_watch = False
            raise _too_old(since, self._rv)
        if since is not None and since < self._compacted_rv:
            raise _too_old(since, self._compacted_rv)
        watch = Watch(
            rt=rt,
            namespace=namespace if rt.namespaced else None,
            labels=labels,
            fields=fields,
            queue=asyncio.Queue(),
            limit=self.settings.watch_queue_size,
        )
        # No await between the replay and registration, so no change can fall in between.
        if initial:
            for obj in self.list(rt, watch.namespace, labels, fields):
                watch.send(watch_line("ADDED", obj))
            if initial_end_bookmark:
                watch.send(watch_line("BOOKMARK", self.bookmark(rt, initial_events_end=True)))
        elif since is not None:
            # Newest first, stopping at `since`: a resume near the head costs little however long the log is.
            missed = []
            for change in reversed(self._log):
                if change.rv <= since:
                    break
                if change.rt is rt:
                    missed.append(change)
            for change in reversed(missed):
                watch.offer(change)
        self._watches[rt.key].add(watch)
        return watch

    def close_watch(self, watch: Watch) -> None:
        self._watches[watch.rt.key].discard(watch)

    def open_watch_count(self) -> int:
        return sum(len(w) for w in self._watches.values())

    def open_watches_by_resource(self) -> dict[str, int]:
        return {key: len(w) for key, w in self._watches.items() if w}

    def object_counts(self) -> dict[str, int]:
        return {key: len(objs) for key, objs in self._objects.items() if objs}

    def cut_watches(self) -> int:
        """Close every open watch, as an API server restart would; returns how many."""
        count = 0
        for watches in self._watches.values():
            for watch in list(watches):
                watch.close("watch cut by fault injection")
                count += 1
        return count

    def expire_next_watch(self) -> None:
        """Make the next watch resumed from a resourceVersion get 410 Expired."""
        self._expire_next_watch = True

    def compact(self) -> int:
        """Drop the whole event log, as etcd compaction does; returns the new compacted revision."""
        self._log.clear()
        self._compacted_rv = self._rv
        return self._rv

    def bookmark(self, rt: ResourceType, *, initial_events_end: bool = False) -> Obj:
        meta: Obj = {"resourceVersion": str(self._rv)}
        if initial_events_end:
            # helm 4's watch-list waiter treats this annotation as the end of the initial listing.
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}


def _too_old(since: int, current: int) -> errors.ApiError:
    return errors.expired(f"too old resource version: {since} ({current})")


def _spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _default_propagation(rt: ResourceType) -> str:
    # The real server orphans dependents by default only for a few legacy paths; Background otherwise.
    return "Background"
