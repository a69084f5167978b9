"""The StatefulSet controller: ordinal pods with their claims, ordered start and reverse-order rollouts."""

from __future__ import annotations

from typing import Any

from kubesim import errors
from kubesim.controllers.objects import (
    controller_ref,
    is_deleting,
    omit_zero,
    owner_reference,
    pod_ready,
    template_hash,
)
from kubesim.controllers.replicaset import pod_from_template
from kubesim.controllers.runtime import Context, WorkQueue, log
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import resource

STATEFULSETS = resource("apps", "statefulsets")
REVISIONS = resource("apps", "controllerrevisions")
PODS = resource("", "pods")
CLAIMS = resource("", "persistentvolumeclaims")
REVISION_LABEL = "controller-revision-hash"
_COMPONENT = "statefulset-controller"


def _ordinal(sts_name: str, pod: Obj) -> int | None:
    prefix, _, index = str(pod["metadata"]["name"]).rpartition("-")
    return int(index) if prefix == sts_name and index.isdigit() else None


def _running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and pod_ready(pod)


class StatefulSetController:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.queue: WorkQueue[tuple[str, str]] = WorkQueue("statefulset", self.sync)

    def on_change(self, change: Change) -> None:
        obj = change.obj
        if change.rt is STATEFULSETS:
            self.queue.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))
            return
        ref = controller_ref(obj) or (controller_ref(change.old) if change.old else None)
        if ref is not None and ref.get("kind") == "StatefulSet":
            self.queue.add((obj["metadata"]["namespace"], str(ref.get("name"))))

    def sync(self, key: tuple[str, str]) -> None:
        namespace, name = key
        object_store = self._ctx.object_store
        sts = object_store.peek(STATEFULSETS, namespace, name)
        if sts is None or is_deleting(sts):
            return
        spec = sts["spec"]
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        update_revision = self._ensure_revision(sts)
        if update_revision is None:
            return
        pods: dict[int, Obj] = {}
        for pod in self._ctx.index.controlled(sts, "Pod"):
            ordinal = _ordinal(name, pod)
            if ordinal is not None:
                pods[ordinal] = pod

        healthy = True
        for i in range(replicas):
            current = pods.get(i)
            if current is None:
                healthy = False
                if not self._create_pod(sts, i, update_revision):
                    break
            elif is_deleting(current):
                healthy = False
            elif (current.get("status") or {}).get("phase") == "Failed":
                healthy = False
                self._delete_pod(sts, current)  # a failed pod is replaced, as the real controller does
            elif not _running_and_ready(current):
                healthy = False
            else:
                continue
            if ordered:
                break

        condemned = sorted((i for i in pods if i >= replicas), reverse=True)
        if condemned:
            for i in condemned:
                doomed = pods[i]
                if ordered and (not healthy or is_deleting(doomed)):
                    break
                if not is_deleting(doomed):
                    self._delete_pod(sts, doomed)
                if ordered:
                    break
        elif healthy and (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
            partition = int(
                ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
            )
            # Roll from the highest ordinal down, one pod at a time, each after the set is ready again.
            for i in range(replicas - 1, partition - 1, -1):
                stale = pods.get(i)
                if (
                    stale is not None
                    and (stale["metadata"].get("labels") or {}).get(REVISION_LABEL) != update_revision
                ):
                    self._delete_pod(sts, stale)
                    break
        live = object_store.peek(STATEFULSETS, namespace, name)
        if live is not None:
            self._write_status(live, update_revision)

    def _ensure_revision(self, sts: Obj) -> str | None:
        """The ControllerRevision of the current template, created if new; returns its name."""
        meta = sts["metadata"]
        template = sts["spec"].get("template") or {}
        pod_hash = template_hash(template)
        name = f"{meta['name']}-{pod_hash}"
        if self._ctx.object_store.peek(REVISIONS, meta["namespace"], name) is not None:
            return name
        number = 1 + max(
            (int(r.get("revision", 0)) for r in self._ctx.index.controlled(sts, "ControllerRevision")),
            default=0,
        )
        labels = {
            **((template.get("metadata") or {}).get("labels") or {}),
            "controller.kubernetes.io/hash": pod_hash,
        }
        body = {
            "metadata": {"name": name, "labels": labels, "ownerReferences": [owner_reference(sts)]},
            "data": {"spec": {"template": {**clone(template), "$patch": "replace"}}},
            "revision": number,
        }
        try:
            self._ctx.object_store.create(REVISIONS, meta["namespace"], body)
        except errors.ApiError as exc:
            log.debug("statefulset %s/%s: creating revision failed: %s", meta["namespace"], meta["name"], exc)
            return None
        return name

    def _create_pod(self, sts: Obj, ordinal: int, revision: str) -> bool:
        meta = sts["metadata"]
        spec = sts["spec"]
        ns, sts_name = meta["namespace"], meta["name"]
        pod_name = f"{sts_name}-{ordinal}"
        volumes: list[dict[str, Any]] = []
        for claim in spec.get("volumeClaimTemplates") or []:
            claim_name = claim["metadata"]["name"]
            pvc_name = f"{claim_name}-{pod_name}"
            if not self._ensure_claim(sts, claim, pvc_name, pod_name):
                return False
            volumes.append({"name": claim_name, "persistentVolumeClaim": {"claimName": pvc_name}})
        body = pod_from_template(spec.get("template") or {}, owner=sts, name=pod_name)
        labels = body["metadata"].setdefault("labels", {})
        labels.update(
            {
                REVISION_LABEL: revision,
                "apps.kubernetes.io/pod-index": str(ordinal),
                "statefulset.kubernetes.io/pod-name": pod_name,
            }
        )
        pod_spec = body["spec"]
        pod_spec["hostname"] = pod_name
        if spec.get("serviceName"):
            pod_spec["subdomain"] = spec["serviceName"]
        claimed = {v["name"] for v in volumes}
        pod_spec["volumes"] = volumes + [
            v for v in pod_spec.get("volumes") or [] if v.get("name") not in claimed
        ]
        try:
            self._ctx.object_store.create(PODS, ns, body)
        except errors.ApiError as exc:
            self._event(
                sts,
                "FailedCreate",
                f"create Pod {pod_name} in StatefulSet {sts_name} failed error: {exc.message}",
                warning=True,
            )
            return False
        self._event(sts, "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {sts_name} successful")
        return True

    def _ensure_claim(self, sts: Obj, claim: dict[str, Any], pvc_name: str, pod_name: str) -> bool:
        meta = sts["metadata"]
        object_store = self._ctx.object_store
        if object_store.peek(CLAIMS, meta["namespace"], pvc_name) is not None:
            return True
        cmeta = claim.get("metadata") or {}
        selector_labels = (sts["spec"].get("selector") or {}).get("matchLabels") or {}
        body: dict[str, Any] = {
            "metadata": {"name": pvc_name, "labels": {**selector_labels, **(cmeta.get("labels") or {})}},
            "spec": clone(claim.get("spec") or {}),
        }
        if cmeta.get("annotations"):
            body["metadata"]["annotations"] = clone(cmeta["annotations"])
        retention = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if retention.get("whenDeleted") == "Delete":
            body["metadata"]["ownerReferences"] = [owner_reference(sts)]
        message = f"create Claim {pvc_name} Pod {pod_name} in StatefulSet {meta['name']}"
        try:
            object_store.create(CLAIMS, meta["namespace"], body)
        except errors.ApiError as exc:
            self._event(sts, "FailedCreate", f"{message} failure: {exc.message}", warning=True)
            return False
        self._event(sts, "SuccessfulCreate", f"{message} success")
        return True

    def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            self._ctx.object_store.delete(PODS, meta["namespace"], meta["name"])
        except errors.ApiError:
            return
        self._event(
            sts,
            "SuccessfulDelete",
            f"delete Pod {meta['name']} in StatefulSet {sts['metadata']['name']} successful",
        )

    def _event(self, sts: Obj, reason: str, message: str, *, warning: bool = False) -> None:
        self._ctx.events.record(
            sts,
            reason=reason,
            message=message,
            component=_COMPONENT,
            type_="Warning" if warning else "Normal",
        )

    def _write_status(self, sts: Obj, update_revision: str) -> None:
        replicas = int(sts["spec"].get("replicas", 1))
        old = sts.get("status") or {}
        current_revision = str(old.get("currentRevision") or update_revision)
        pods = [p for p in self._ctx.index.controlled(sts, "Pod") if not is_deleting(p)]
        revisions = [(p["metadata"].get("labels") or {}).get(REVISION_LABEL) for p in pods]
        ready = sum(1 for p in pods if _running_and_ready(p))
        updated = revisions.count(update_revision)
        current = revisions.count(current_revision)
        rolling = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        if rolling and updated == len(pods) == replicas and ready == replicas:
            current_revision, current = update_revision, updated  # the rollout is complete
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": 0,
            "availableReplicas": ready,
        }
        omit_zero(status, "readyReplicas", "currentReplicas", "updatedReplicas")
        if status != old:
            new = clone(sts)
            new["status"] = status
            self._ctx.object_store.write_internal(STATEFULSETS, new)
