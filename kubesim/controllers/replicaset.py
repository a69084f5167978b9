"""The ReplicaSet controller: keep spec.replicas pods alive and report how many are ready."""

from __future__ import annotations

from typing import Any

from kubesim import errors
from kubesim.controllers.objects import (
    controller_ref,
    is_deleting,
    omit_zero,
    owner_reference,
    pod_active,
    pod_ready,
)
from kubesim.controllers.runtime import Context, WorkQueue, log
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import resource
from kubesim.selectors import match_label_selector_object

PODS = resource("", "pods")
REPLICASETS = resource("apps", "replicasets")
_COMPONENT = "replicaset-controller"


def pod_from_template(
    template: dict[str, Any], *, owner: Obj, name: str = "", generate_name: str = ""
) -> Obj:
    """A pod body from a workload's pod template, controlled by `owner`."""
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {"ownerReferences": [owner_reference(owner)]}
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name
    for key in ("labels", "annotations", "finalizers"):
        if tmeta.get(key):
            meta[key] = clone(tmeta[key])
    return {"metadata": meta, "spec": clone(template.get("spec") or {})}


class ReplicaSetController:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.queue: WorkQueue[tuple[str, str]] = WorkQueue("replicaset", self.sync)

    def on_change(self, change: Change) -> None:
        obj = change.obj
        if change.rt is REPLICASETS:
            self.queue.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))
            return
        ref = controller_ref(obj) or (controller_ref(change.old) if change.old else None)
        if ref is not None and ref.get("kind") == "ReplicaSet":
            self.queue.add((obj["metadata"]["namespace"], str(ref.get("name"))))

    def sync(self, key: tuple[str, str]) -> None:
        namespace, name = key
        object_store = self._ctx.object_store
        rs = object_store.peek(REPLICASETS, namespace, name)
        if rs is None or is_deleting(rs):
            return
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        active = [p for p in self._ctx.index.controlled(rs, "Pod") if pod_active(p)]
        if len(active) < want:
            self._create(rs, want - len(active))
        elif len(active) > want:
            self._delete(rs, active, len(active) - want)
        rs = object_store.peek(REPLICASETS, namespace, name)
        if rs is None:
            return
        self._write_status(rs)

    def _create(self, rs: Obj, count: int) -> None:
        template = rs["spec"].get("template") or {}
        ns = rs["metadata"]["namespace"]
        for _ in range(count):
            body = pod_from_template(template, owner=rs, generate_name=f"{rs['metadata']['name']}-")
            try:
                pod = self._ctx.object_store.create(PODS, ns, body)
            except errors.ApiError as exc:
                # A terminating namespace refuses new pods; the real controller records FailedCreate.
                log.debug("replicaset %s/%s: creating a pod failed: %s", ns, rs["metadata"]["name"], exc)
                self._ctx.events.record(
                    rs,
                    reason="FailedCreate",
                    message=f"Error creating: {exc.message}",
                    component=_COMPONENT,
                    type_="Warning",
                )
                return
            self._ctx.events.record(
                rs,
                reason="SuccessfulCreate",
                message=f"Created pod: {pod['metadata']['name']}",
                component=_COMPONENT,
            )

    def _delete(self, rs: Obj, active: list[Obj], count: int) -> None:
        # Like the real ranking: unready before ready, not-running before running, newest first.
        newest_first = sorted(
            active, key=lambda p: str(p["metadata"].get("creationTimestamp", "")), reverse=True
        )
        ranked = sorted(
            newest_first,
            key=lambda p: (pod_ready(p), (p.get("status") or {}).get("phase") == "Running"),
        )
        for pod in ranked[:count]:
            meta = pod["metadata"]
            try:
                self._ctx.object_store.delete(PODS, meta["namespace"], meta["name"])
            except errors.ApiError:
                continue
            self._ctx.events.record(
                rs, reason="SuccessfulDelete", message=f"Deleted pod: {meta['name']}", component=_COMPONENT
            )

    def _write_status(self, rs: Obj) -> None:
        pods = [p for p in self._ctx.index.controlled(rs, "Pod") if pod_active(p)]
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        labeled = sum(
            1
            for p in pods
            if match_label_selector_object(
                {"matchLabels": template_labels}, p["metadata"].get("labels") or {}
            )
        )
        ready = sum(1 for p in pods if pod_ready(p))
        status: dict[str, Any] = {
            "replicas": len(pods),
            "fullyLabeledReplicas": labeled,
            "readyReplicas": ready,
            # minReadySeconds is not simulated: a ready pod counts as available at once.
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        omit_zero(status, "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
        if (rs.get("status") or {}).get("conditions"):
            status["conditions"] = rs["status"]["conditions"]
        if status != rs.get("status"):
            new = clone(rs)
            new["status"] = status
            self._ctx.object_store.write_internal(REPLICASETS, new)
