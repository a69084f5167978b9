"""The garbage collector: ownerReferences cascade (Background, Foreground and Orphan deletion).

It works from the owner -> dependents index, so its cost is the number of dependents, never the
number of stored objects.
"""

from __future__ import annotations

from kubesim import errors
from kubesim.controllers.index import TYPES_BY_KEY, Key, key_of, owner_uids
from kubesim.controllers.objects import is_deleting
from kubesim.controllers.runtime import Context, WorkQueue
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import ResourceType

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def _without_owner(obj: Obj, uid: str) -> Obj:
    new = clone(obj)
    refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    if refs:
        new["metadata"]["ownerReferences"] = refs
    else:
        new["metadata"].pop("ownerReferences", None)
    return new


class GarbageCollector:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        # Uids of removed owners whose dependents are to be deleted (or have the reference dropped).
        self.orphaned: WorkQueue[str] = WorkQueue("gc-dependents", self.collect)
        # Owners being deleted with the foregroundDeletion or orphan finalizer.
        self.finalizing: WorkQueue[Key] = WorkQueue("gc-finalizers", self.finalize)

    def on_change(self, change: Change) -> None:
        obj = change.obj
        meta = obj["metadata"]
        if change.type == "DELETED":
            if self._ctx.index.has_dependents(meta["uid"]):
                self.orphaned.add(meta["uid"])
            # A dependent is gone: an owner waiting for it in foreground deletion may now finish.
            for owner in owner_uids(obj):
                found = self._ctx.index.by_uid(owner)
                if found is not None and _finalizing(found[1]):
                    self.finalizing.add(key_of(*found))
            return
        if _finalizing(obj) and change.rt.kind != "Pod":
            # Pods are removed by the kubelet after their grace period, whatever their finalizers say.
            self.finalizing.add(key_of(change.rt, obj))

    def collect(self, uid: str) -> None:
        """The owner `uid` is gone: delete its dependents, or drop the reference where another owner lives."""
        index = self._ctx.index
        for rt, dep in list(index.dependents(uid)):
            others = owner_uids(dep) - {uid}
            if any(index.exists(o) for o in others):
                self._write(rt, _without_owner(dep, uid))
            elif not is_deleting(dep):
                self._delete(rt, dep, "Background")

    def finalize(self, key: Key) -> None:
        index = self._ctx.index
        owner = index.lookup(key)
        if owner is None or not _finalizing(owner):
            return
        uid = owner["metadata"]["uid"]
        finalizers = list(owner["metadata"].get("finalizers") or [])
        if ORPHAN in finalizers:
            for rt, dep in list(index.dependents(uid)):
                self._write(rt, _without_owner(dep, uid))
            self._drop_finalizer(key, ORPHAN)
            return
        for rt, dep in list(index.dependents(uid)):
            if not is_deleting(dep):
                # Dependents that block their owner are deleted in the foreground as well, so a
                # Deployment waits for its ReplicaSets, which wait for their pods.
                blocking = _blocks(dep, uid) and rt.kind != "Pod"
                self._delete(rt, dep, "Foreground" if blocking else "Background")
        if not any(_blocks(dep, uid) for _, dep in index.dependents(uid)):
            self._drop_finalizer(key, FOREGROUND)

    def _drop_finalizer(self, key: Key, finalizer: str) -> None:
        owner = self._ctx.index.lookup(key)
        if owner is None:
            return
        new = clone(owner)
        remaining = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
        if remaining:
            new["metadata"]["finalizers"] = remaining
        else:
            new["metadata"].pop("finalizers", None)
        rt = TYPES_BY_KEY[key[0]]
        # Removing the last finalizer of an object with a deletionTimestamp makes the object store remove it.
        self._ctx.object_store.write_internal(rt, new)

    def _write(self, rt: ResourceType, obj: Obj) -> None:
        try:
            self._ctx.object_store.write_internal(rt, obj)
        except errors.ApiError:
            return

    def _delete(self, rt: ResourceType, obj: Obj, propagation: str) -> None:
        meta = obj["metadata"]
        try:
            self._ctx.object_store.delete(
                rt,
                meta.get("namespace", ""),
                meta["name"],
                propagation=propagation,
                preconditions={"uid": meta["uid"]},
            )
        except errors.ApiError:
            return


def _finalizing(obj: Obj) -> bool:
    finalizers = obj["metadata"].get("finalizers") or []
    return is_deleting(obj) and (FOREGROUND in finalizers or ORPHAN in finalizers)


def _blocks(dep: Obj, uid: str) -> bool:
    return any(
        r.get("uid") == uid and r.get("blockOwnerDeletion")
        for r in dep["metadata"].get("ownerReferences") or []
    )
