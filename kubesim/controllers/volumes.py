"""The volume provisioner and binder: a Pending claim gets a PersistentVolume `pvc-<uid>` and is Bound."""

from __future__ import annotations

import asyncio
from typing import Any

from kubesim import errors
from kubesim.controllers.objects import is_deleting
from kubesim.controllers.runtime import Context, TaskSet, WorkQueue
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import resource

CLAIMS = resource("", "persistentvolumeclaims")
VOLUMES = resource("", "persistentvolumes")
DEFAULT_CLASS = "standard"
PROVISIONER = "kubesim.io/local"
_COMPONENT = "persistentvolume-controller"
_FAULT_POLL = 0.1  # seconds between checks whether a pvc-pending fault still holds a claim back


class VolumeController:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._binds = TaskSet("pvc-bind")
        self._warned: set[str] = set()  # claims already told why they stay Pending
        # (volume name, claim uid) of deleted claims whose volume is to be reclaimed.
        self.releases: WorkQueue[tuple[str, str]] = WorkQueue("pv-reclaim", self._release)

    def on_change(self, change: Change) -> None:
        claim = change.obj
        uid = claim["metadata"]["uid"]
        if change.type == "DELETED":
            self._binds.cancel(uid)
            self._warned.discard(uid)
            volume_name = str((claim.get("spec") or {}).get("volumeName") or f"pvc-{uid}")
            self.releases.add((volume_name, uid))
            return
        if (claim.get("status") or {}).get("phase", "Pending") == "Pending" and not is_deleting(claim):
            meta = claim["metadata"]
            self._binds.spawn(
                uid,
                self._bind_later(meta["namespace"], meta["name"], uid),
                name=f"{meta['namespace']}/{meta['name']}",
            )

    async def stop(self) -> None:
        await self._binds.stop()

    async def _bind_later(self, namespace: str, name: str, uid: str) -> None:
        delay = self._ctx.settings.delays.pvc_bind
        await asyncio.sleep(delay)
        object_store = self._ctx.object_store
        while True:
            claim = object_store.peek(CLAIMS, namespace, name)
            if claim is None or claim["metadata"]["uid"] != uid or is_deleting(claim):
                return
            if not self._ctx.faults.active("pvc-pending", namespace, name):
                break
            if uid not in self._warned:
                self._warned.add(uid)
                self._ctx.events.record(
                    claim,
                    reason="ProvisioningFailed",
                    message=f'failed to provision volume with StorageClass "{_class_of(claim)}": '
                    "kubesim fault injection: provisioning is disabled for this claim",
                    component=_COMPONENT,
                    type_="Warning",
                )
            # Keep checking (no writes) so the claim binds once the fault is cleared.
            await asyncio.sleep(max(delay, _FAULT_POLL))
        volume_name = str(claim["spec"].get("volumeName") or f"pvc-{uid}")
        try:
            volume = object_store.peek(VOLUMES, "", volume_name) or self._provision(claim, volume_name)
        except errors.ApiError:
            return
        new = clone(claim)
        spec = new["spec"]
        # The PV controller fills in the default class of a claim that names none (retroactive default).
        spec.setdefault("storageClassName", _class_of(claim))
        spec["volumeName"] = volume_name
        annotations = new["metadata"].setdefault("annotations", {})
        annotations.update(
            {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER,
                "volume.kubernetes.io/storage-provisioner": PROVISIONER,
            }
        )
        new["status"] = {
            "phase": "Bound",
            "accessModes": clone(volume["spec"].get("accessModes") or ["ReadWriteOnce"]),
            "capacity": clone(volume["spec"].get("capacity") or {}),
        }
        object_store.write_internal(CLAIMS, new)

    def _provision(self, claim: Obj, volume_name: str) -> Obj:
        meta = claim["metadata"]
        spec = claim.get("spec") or {}
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        body: dict[str, Any] = {
            "metadata": {
                "name": volume_name,
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                "finalizers": ["kubernetes.io/pv-protection"],
            },
            "spec": {
                "accessModes": clone(spec.get("accessModes") or ["ReadWriteOnce"]),
                "capacity": {"storage": storage},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "hostPath": {
                    "path": f"/var/local-path-provisioner/{volume_name}_{meta['namespace']}_{meta['name']}",
                    "type": "DirectoryOrCreate",
                },
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": _class_of(claim),
                "volumeMode": spec.get("volumeMode", "Filesystem"),
            },
        }
        object_store = self._ctx.object_store
        object_store.create(VOLUMES, "", body)
        volume = object_store.peek(VOLUMES, "", volume_name)
        assert volume is not None
        bound = clone(volume)
        bound["status"] = {"phase": "Bound"}
        volume = object_store.write_internal(VOLUMES, bound)
        self._ctx.events.record(
            claim,
            reason="ProvisioningSucceeded",
            message=f"Successfully provisioned volume {volume_name} using {PROVISIONER}",
            component=_COMPONENT,
        )
        return volume

    def _release(self, key: tuple[str, str]) -> None:
        """Reclaim policy Delete: the claim's provisioned volume goes with it."""
        volume_name, uid = key
        object_store = self._ctx.object_store
        volume = object_store.peek(VOLUMES, "", volume_name)
        if volume is None or (volume["spec"].get("claimRef") or {}).get("uid") != uid:
            return
        if volume["spec"].get("persistentVolumeReclaimPolicy", "Delete") != "Delete":
            return
        try:
            object_store.delete(VOLUMES, "", volume_name)
        except errors.ApiError:
            return
        live = object_store.peek(VOLUMES, "", volume_name)
        if live is not None:
            # The pv-protection finalizer is ours to drop once the claim is gone.
            new = clone(live)
            new["metadata"]["finalizers"] = [
                f for f in new["metadata"].get("finalizers") or [] if f != "kubernetes.io/pv-protection"
            ]
            object_store.write_internal(VOLUMES, new)


def _class_of(claim: Obj) -> str:
    return str((claim.get("spec") or {}).get("storageClassName") or DEFAULT_CLASS)
