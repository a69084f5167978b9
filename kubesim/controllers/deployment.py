"""The Deployment controller: one ReplicaSet per pod template, rolled over, and the status waiters read.

helm's legacy waiter finds the new ReplicaSet by comparing its template (minus pod-template-hash)
with the Deployment's, then wants its readyReplicas >= replicas - maxUnavailable and
observedGeneration == generation; kstatus wants replicas == updated == available == ready == spec,
Progressing reason NewReplicaSetAvailable and Available True. Both are written here.
"""

from __future__ import annotations

import time
from typing import Any

from kubesim import errors
from kubesim.controllers.objects import (
    controller_ref,
    get_condition,
    is_deleting,
    omit_zero,
    owner_reference,
    scaled_value,
    set_condition,
    template_hash,
)
from kubesim.controllers.runtime import Context, WorkQueue
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import resource
from kubesim.timeutil import now_rfc3339

DEPLOYMENTS = resource("apps", "deployments")
REPLICASETS = resource("apps", "replicasets")
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_COMPONENT = "deployment-controller"
_NO_DEADLINE = 2**31 - 1  # the API's "no progress deadline" value (math.MaxInt32)


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    clean = clone(template)
    labels = (clean.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    return clean


def _revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def surge_and_unavailable(deployment: Obj) -> tuple[int, int]:
    """maxSurge rounded up and maxUnavailable rounded down, as deploymentutil resolves them."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the API forbids both zero; the controller still guards against it
    return surge, min(unavailable, replicas)


class DeploymentController:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.queue: WorkQueue[tuple[str, str]] = WorkQueue("deployment", self.sync)
        # uid -> (what the rollout looked like, monotonic time it last changed): the progress deadline clock.
        self._progress: dict[str, tuple[tuple[Any, ...], float]] = {}

    def on_change(self, change: Change) -> None:
        obj = change.obj
        meta = obj["metadata"]
        if change.rt is DEPLOYMENTS:
            if change.type == "DELETED":
                self._progress.pop(meta["uid"], None)
            self.queue.add((meta["namespace"], meta["name"]))
            return
        ref = controller_ref(obj) or (controller_ref(change.old) if change.old else None)
        if ref is not None and ref.get("kind") == "Deployment":
            self.queue.add((meta["namespace"], str(ref.get("name"))))

    def sync(self, key: tuple[str, str]) -> None:
        namespace, name = key
        object_store = self._ctx.object_store
        deployment = object_store.peek(DEPLOYMENTS, namespace, name)
        if deployment is None or is_deleting(deployment):
            return
        template = deployment["spec"].get("template") or {}
        owned = self._ctx.index.controlled(deployment, "ReplicaSet")
        new_rs = next(
            (rs for rs in owned if _without_hash(rs["spec"].get("template") or {}) == template), None
        )
        olds = [rs for rs in owned if rs is not new_rs]
        max_old = max((_revision(rs) for rs in olds), default=0)
        created = False
        if new_rs is None:
            new_rs = self._create_rs(deployment, max_old + 1)
            if new_rs is None:
                return
            created = True
        elif _revision(new_rs) <= max_old:
            new_rs = self._set_revision(new_rs, max_old + 1)  # a rollback makes the old template newest again
        self._scale(deployment, new_rs, olds)
        self._clean_up(deployment, olds)
        deployment = object_store.peek(DEPLOYMENTS, namespace, name)
        new_rs = object_store.peek(REPLICASETS, namespace, new_rs["metadata"]["name"])
        if deployment is None or new_rs is None:
            return
        self._write_status(deployment, new_rs, created=created)

    def _create_rs(self, deployment: Obj, revision: int) -> Obj | None:
        meta = deployment["metadata"]
        spec = deployment["spec"]
        template = clone(spec.get("template") or {})
        surge, _ = surge_and_unavailable(deployment)
        replicas = int(spec.get("replicas", 1))
        for collision in range(5):
            pod_hash = template_hash([template, collision] if collision else template)
            labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: pod_hash}
            rs_template = clone(template)
            rs_template.setdefault("metadata", {})["labels"] = labels
            selector = clone(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
            body = {
                "metadata": {
                    "name": f"{meta['name']}-{pod_hash}",
                    "labels": labels,
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": str(replicas),
                        "deployment.kubernetes.io/max-replicas": str(replicas + surge),
                        REVISION: str(revision),
                    },
                    "ownerReferences": [owner_reference(deployment)],
                },
                "spec": {"replicas": 0, "selector": selector, "template": rs_template},
            }
            try:
                return self._ctx.object_store.create(REPLICASETS, meta["namespace"], body)
            except errors.ApiError as exc:
                if exc.reason != "AlreadyExists":
                    return None
        return None

    def _set_revision(self, rs: Obj, revision: int) -> Obj:
        new = clone(rs)
        new["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        return self._ctx.object_store.write_internal(REPLICASETS, new)

    def _scale(self, deployment: Obj, new_rs: Obj, olds: list[Obj]) -> None:
        desired = int(deployment["spec"].get("replicas", 1))
        recreate = (deployment["spec"].get("strategy") or {}).get("type") == "Recreate"
        if recreate:
            # Recreate: every old pod goes first; the new ReplicaSet grows only once they are all gone.
            for rs in olds:
                self._scale_rs(deployment, rs, 0)
            old_pods = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in olds)
            self._scale_rs(deployment, new_rs, 0 if old_pods else desired)
            return
        # A simplified rolling update: the new ReplicaSet is scaled up at once, the old ones are
        # scaled to zero once it is fully available, so availability never drops during a rollout.
        self._scale_rs(deployment, new_rs, desired)
        new_rs = (
            self._ctx.object_store.peek(
                REPLICASETS, new_rs["metadata"]["namespace"], new_rs["metadata"]["name"]
            )
            or {}
        )
        new_status = new_rs.get("status") or {}
        if int(new_status.get("availableReplicas", 0)) >= desired and new_status.get(
            "observedGeneration"
        ) == new_rs.get("metadata", {}).get("generation"):
            for rs in olds:
                self._scale_rs(deployment, rs, 0)

    def _scale_rs(self, deployment: Obj, rs: Obj, replicas: int) -> None:
        live = self._ctx.object_store.peek(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
        if live is None or is_deleting(live):
            return
        before = int(live["spec"].get("replicas", 1))
        surge, _ = surge_and_unavailable(deployment)
        desired = int(deployment["spec"].get("replicas", 1))
        new = clone(live)
        new["spec"]["replicas"] = replicas
        annotations = new["metadata"].setdefault("annotations", {})
        annotations["deployment.kubernetes.io/desired-replicas"] = str(desired)
        annotations["deployment.kubernetes.io/max-replicas"] = str(desired + surge)
        self._ctx.object_store.write_internal(REPLICASETS, new)
        if before != replicas:
            direction = "up" if replicas > before else "down"
            rs_name = live["metadata"]["name"]
            self._ctx.events.record(
                deployment,
                reason="ScalingReplicaSet",
                message=f"Scaled {direction} replica set {rs_name} to {replicas} from {before}",
                component=_COMPONENT,
            )

    def _clean_up(self, deployment: Obj, olds: list[Obj]) -> None:
        """Delete idle old ReplicaSets beyond spec.revisionHistoryLimit, oldest first."""
        limit = int(deployment["spec"].get("revisionHistoryLimit", 10))
        idle = [
            rs
            for rs in olds
            if int(rs["spec"].get("replicas", 0)) == 0
            and int((rs.get("status") or {}).get("replicas", 0)) == 0
            and not is_deleting(rs)
        ]
        idle.sort(key=_revision)
        for rs in idle[: max(len(idle) - limit, 0)]:
            try:
                self._ctx.object_store.delete(
                    REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"]
                )
            except errors.ApiError:
                continue

    def _write_status(self, deployment: Obj, new_rs: Obj, *, created: bool) -> None:
        meta = deployment["metadata"]
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        all_rs = [rs for rs in self._ctx.index.controlled(deployment, "ReplicaSet") if rs is not new_rs] + [
            new_rs
        ]

        def total(field: str, sets: list[Obj]) -> int:
            return sum(int((rs.get("status") or {}).get(field, 0)) for rs in sets)

        replicas = total("replicas", all_rs)
        updated = total("replicas", [new_rs])
        ready = total("readyReplicas", all_rs)
        available = total("availableReplicas", all_rs)
        _, max_unavailable = surge_and_unavailable(deployment)
        conditions = clone((deployment.get("status") or {}).get("conditions") or [])

        if available >= desired - max_unavailable:
            set_condition(
                conditions,
                "Available",
                "True",
                reason="MinimumReplicasAvailable",
                message="Deployment has minimum availability.",
                update_time=True,
            )
        else:
            set_condition(
                conditions,
                "Available",
                "False",
                reason="MinimumReplicasUnavailable",
                message="Deployment does not have minimum availability.",
                update_time=True,
            )
        rs_name = new_rs["metadata"]["name"]
        rs_status = new_rs.get("status") or {}
        complete = (
            updated == desired
            and replicas == desired
            and available >= desired
            and rs_status.get("observedGeneration") == new_rs["metadata"].get("generation")
        )
        self._progressing(
            deployment,
            conditions,
            rs_name,
            complete=complete,
            created=created,
            signature=(rs_name, desired, replicas, updated, ready, available),
        )
        conditions.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(str(c.get("type")), 2))
        status: dict[str, Any] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(desired - available, 0),
            "conditions": conditions,
        }
        omit_zero(
            status, "replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"
        )
        revision = (new_rs["metadata"].get("annotations") or {}).get(REVISION)
        annotations = meta.get("annotations") or {}
        if status == deployment.get("status") and annotations.get(REVISION) == revision:
            return
        new = clone(deployment)
        new["status"] = status
        if revision is not None:
            new["metadata"].setdefault("annotations", {})[REVISION] = revision
        self._ctx.object_store.write_internal(DEPLOYMENTS, new)

    def _progressing(
        self,
        deployment: Obj,
        conditions: list[dict[str, Any]],
        rs_name: str,
        *,
        complete: bool,
        created: bool,
        signature: tuple[Any, ...],
    ) -> None:
        uid = deployment["metadata"]["uid"]
        now = time.monotonic()
        seen = self._progress.get(uid)
        progressed = seen is None or seen[0] != signature
        if progressed:
            self._progress[uid] = (signature, now)
        since = self._progress[uid][1]
        if complete:
            set_condition(
                conditions,
                "Progressing",
                "True",
                reason="NewReplicaSetAvailable",
                message=f'ReplicaSet "{rs_name}" has successfully progressed.',
                update_time=True,
            )
            return
        deadline = int(deployment["spec"].get("progressDeadlineSeconds") or _NO_DEADLINE)
        current = get_condition(deployment, "Progressing")
        if deadline != _NO_DEADLINE and now - since >= deadline:
            set_condition(
                conditions,
                "Progressing",
                "False",
                reason="ProgressDeadlineExceeded",
                message=f'ReplicaSet "{rs_name}" has timed out progressing.',
                update_time=True,
            )
            return
        if deadline != _NO_DEADLINE:
            key = (deployment["metadata"]["namespace"], deployment["metadata"]["name"])
            self.queue.add_after(key, since + deadline - now + 0.001)
        if created:
            set_condition(
                conditions,
                "Progressing",
                "True",
                reason="NewReplicaSetCreated",
                message=f'Created new replica set "{rs_name}"',
                update_time=True,
            )
        elif progressed or current is None or current.get("reason") == "NewReplicaSetAvailable":
            set_condition(
                conditions,
                "Progressing",
                "True",
                reason="ReplicaSetUpdated",
                message=f'ReplicaSet "{rs_name}" is progressing.',
                update_time=True,
            )
            for cond in conditions:
                if cond["type"] == "Progressing":
                    cond["lastUpdateTime"] = now_rfc3339()  # every bit of progress restarts the deadline
