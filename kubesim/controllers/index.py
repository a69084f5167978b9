"""Indexes the controllers keep from the change stream: by uid, by namespace, and owner -> dependents."""

from __future__ import annotations

from collections.abc import Iterator

from kubesim.object_store import Change, Obj, ObjectStore
from kubesim.resources import RESOURCE_TYPES, ResourceType

# (ResourceType.key, namespace or "" for cluster-scoped, name)
Key = tuple[str, str, str]
TYPES_BY_KEY: dict[str, ResourceType] = {rt.key: rt for rt in RESOURCE_TYPES}


def key_of(rt: ResourceType, obj: Obj) -> Key:
    meta = obj["metadata"]
    return (rt.key, str(meta.get("namespace", "")) if rt.namespaced else "", str(meta["name"]))


def owner_uids(obj: Obj | None) -> set[str]:
    if obj is None:
        return set()
    return {str(ref.get("uid")) for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid")}


class ObjectIndex:
    """Kept current by the controllers' listener, so lookups cost O(answer), not O(all objects).

    The garbage collector and the workload controllers find dependents through `dependents`, and
    the namespace controller finds a namespace's contents through `in_namespace`.
    """

    def __init__(self, object_store: ObjectStore) -> None:
        self._object_store = object_store
        self._by_uid: dict[str, Key] = {}
        self._by_namespace: dict[str, set[Key]] = {}
        self._dependents: dict[str, set[Key]] = {}

    def rebuild(self) -> None:
        for rt in RESOURCE_TYPES:
            for obj in self._object_store.items(rt):
                self._add(rt, obj, set())

    def apply(self, change: Change) -> None:
        rt, obj = change.rt, change.obj
        key = key_of(rt, obj)
        if change.type == "DELETED":
            uid = str(obj["metadata"].get("uid", ""))
            if self._by_uid.get(uid) == key:
                del self._by_uid[uid]
            if rt.namespaced:
                keys = self._by_namespace.get(key[1])
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._by_namespace[key[1]]
            for owner in owner_uids(obj) | owner_uids(change.old):
                self._drop_dependent(owner, key)
            return
        self._add(rt, obj, owner_uids(change.old))

    def _add(self, rt: ResourceType, obj: Obj, old_owners: set[str]) -> None:
        key = key_of(rt, obj)
        self._by_uid[str(obj["metadata"].get("uid", ""))] = key
        if rt.namespaced:
            self._by_namespace.setdefault(key[1], set()).add(key)
        new_owners = owner_uids(obj)
        for owner in old_owners - new_owners:
            self._drop_dependent(owner, key)
        for owner in new_owners:
            self._dependents.setdefault(owner, set()).add(key)

    def _drop_dependent(self, owner: str, key: Key) -> None:
        keys = self._dependents.get(owner)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._dependents[owner]

    # -- lookups --------------------------------------------------------------------------------

    def lookup(self, key: Key) -> Obj | None:
        rt = TYPES_BY_KEY[key[0]]
        return self._object_store.peek(rt, key[1], key[2])

    def exists(self, uid: str) -> bool:
        """Whether an object with this uid is stored (a live owner)."""
        key = self._by_uid.get(uid)
        if key is None:
            return False
        obj = self.lookup(key)
        return obj is not None and obj["metadata"].get("uid") == uid

    def by_uid(self, uid: str) -> tuple[ResourceType, Obj] | None:
        key = self._by_uid.get(uid)
        if key is None:
            return None
        obj = self.lookup(key)
        if obj is None or obj["metadata"].get("uid") != uid:
            return None
        return TYPES_BY_KEY[key[0]], obj

    def dependents(self, uid: str, kind: str | None = None) -> Iterator[tuple[ResourceType, Obj]]:
        """Stored objects with an ownerReference to `uid` (of one kind if given), in name order."""
        for key in sorted(self._dependents.get(uid, ())):
            rt = TYPES_BY_KEY[key[0]]
            if kind is not None and rt.kind != kind:
                continue
            obj = self._object_store.peek(rt, key[1], key[2])
            if obj is not None and uid in owner_uids(obj):
                yield rt, obj

    def has_dependents(self, uid: str) -> bool:
        return bool(self._dependents.get(uid))

    def controlled(self, owner: Obj, kind: str) -> list[Obj]:
        """Objects of `kind` whose controller reference points at `owner`."""
        uid = owner["metadata"]["uid"]
        out = []
        for _, obj in self.dependents(uid, kind):
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref.get("uid") == uid and ref.get("controller"):
                    out.append(obj)
                    break
        return out

    def in_namespace(self, namespace: str) -> list[tuple[ResourceType, Obj]]:
        out = []
        for key in sorted(self._by_namespace.get(namespace, ())):
            obj = self.lookup(key)
            if obj is not None:
                out.append((TYPES_BY_KEY[key[0]], obj))
        return out

    def names_in_namespace(self, namespace: str, kind: str) -> list[str]:
        return sorted(k[2] for k in self._by_namespace.get(namespace, ()) if TYPES_BY_KEY[k[0]].kind == kind)
