"""The Job controller (pods to completion, retries up to backoffLimit) and the TTL-after-finished one."""

from __future__ import annotations

import time
from typing import Any

from kubesim import errors
from kubesim.controllers.objects import (
    condition_true,
    controller_ref,
    is_deleting,
    omit_zero,
    pod_active,
    pod_ready,
    set_condition,
)
from kubesim.controllers.replicaset import pod_from_template
from kubesim.controllers.runtime import Context, WorkQueue, log
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import resource
from kubesim.timeutil import now_rfc3339

JOBS = resource("batch", "jobs")
PODS = resource("", "pods")
_COMPONENT = "job-controller"
_BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
_SUCCESS_MESSAGE = "Reached expected number of succeeded pods"


def job_finished(job: Obj) -> bool:
    return condition_true(job, "Complete") or condition_true(job, "Failed")


class JobController:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.queue: WorkQueue[tuple[str, str]] = WorkQueue("job", self.sync)
        # uid -> monotonic time of the latest pod failure seen: retries wait delays.crash_restart after it.
        self._last_failure: dict[str, float] = {}

    def on_change(self, change: Change) -> None:
        obj = change.obj
        if change.rt is JOBS:
            if change.type == "DELETED":
                self._last_failure.pop(obj["metadata"]["uid"], None)
            else:
                self.queue.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))
            return
        ref = controller_ref(obj) or (controller_ref(change.old) if change.old else None)
        if ref is None or ref.get("kind") != "Job":
            return
        if (obj.get("status") or {}).get("phase") == "Failed" and (
            change.old is None or (change.old.get("status") or {}).get("phase") != "Failed"
        ):
            self._last_failure[str(ref.get("uid"))] = time.monotonic()
        self.queue.add((obj["metadata"]["namespace"], str(ref.get("name"))))

    def sync(self, key: tuple[str, str]) -> None:
        namespace, name = key
        job = self._ctx.object_store.peek(JOBS, namespace, name)
        if job is None or is_deleting(job) or job_finished(job):
            return
        spec = job["spec"]
        pods = self._ctx.index.controlled(job, "Pod")
        active = [p for p in pods if pod_active(p)]
        old_status = job.get("status") or {}
        succeeded = max(
            int(old_status.get("succeeded", 0)),
            sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"),
        )
        failed = max(
            int(old_status.get("failed", 0)),
            sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed"),
        )
        completions = int(spec.get("completions") or 1)
        parallelism = int(spec.get("parallelism", 1))
        backoff_limit = int(spec.get("backoffLimit", 6))
        status: dict[str, Any] = clone(old_status)
        status.setdefault("startTime", now_rfc3339())
        conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
        finished: str | None = None
        if succeeded >= completions:
            finished = "Complete"
            for type_ in ("SuccessCriteriaMet", "Complete"):
                set_condition(
                    conditions,
                    type_,
                    "True",
                    reason="CompletionsReached",
                    message=_SUCCESS_MESSAGE,
                    probe_time=True,
                )
            status["completionTime"] = now_rfc3339()
        elif failed > backoff_limit:
            finished = "Failed"
            for pod in active:
                self._delete(pod)
            active = []
            for type_ in ("FailureTarget", "Failed"):
                set_condition(
                    conditions,
                    type_,
                    "True",
                    reason="BackoffLimitExceeded",
                    message=_BACKOFF_MESSAGE,
                    probe_time=True,
                )
        elif not spec.get("suspend"):
            want = min(parallelism, completions - succeeded)
            missing = want - len(active)
            if missing > 0:
                wait = self._retry_wait(job)
                if wait > 0:
                    self.queue.add_after(key, wait)
                else:
                    active += self._create(job, missing)
        if finished is not None:
            active = []
        status.update(
            active=len(active),
            ready=sum(1 for p in active if pod_ready(p)),
            succeeded=succeeded,
            failed=failed,
            terminating=0,
            uncountedTerminatedPods={},
        )
        if not conditions:
            del status["conditions"]
        omit_zero(status, "active", "succeeded", "failed")
        if status != old_status:
            new = clone(job)
            new["status"] = status
            self._ctx.object_store.write_internal(JOBS, new)
        if finished == "Complete":
            self._ctx.events.record(job, reason="Completed", message="Job completed", component=_COMPONENT)
        elif finished == "Failed":
            self._ctx.events.record(
                job,
                reason="BackoffLimitExceeded",
                message=_BACKOFF_MESSAGE,
                component=_COMPONENT,
                type_="Warning",
            )

    def _retry_wait(self, job: Obj) -> float:
        failed_at = self._last_failure.get(job["metadata"]["uid"])
        if failed_at is None:
            return 0.0
        return failed_at + self._ctx.settings.delays.crash_restart - time.monotonic()

    def _create(self, job: Obj, count: int) -> list[Obj]:
        meta = job["metadata"]
        created = []
        for _ in range(count):
            body = pod_from_template(
                job["spec"].get("template") or {}, owner=job, generate_name=f"{meta['name']}-"
            )
            try:
                pod = self._ctx.object_store.create(PODS, meta["namespace"], body)
            except errors.ApiError as exc:
                log.debug("job %s/%s: creating a pod failed: %s", meta["namespace"], meta["name"], exc)
                self._ctx.events.record(
                    job,
                    reason="FailedCreate",
                    message=f"Error creating: {exc.message}",
                    component=_COMPONENT,
                    type_="Warning",
                )
                break
            created.append(pod)
            self._ctx.events.record(
                job,
                reason="SuccessfulCreate",
                message=f"Created pod: {pod['metadata']['name']}",
                component=_COMPONENT,
            )
        return created

    def _delete(self, pod: Obj) -> None:
        try:
            self._ctx.object_store.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
        except errors.ApiError:
            return


class TtlController:
    """Deletes finished Jobs spec.ttlSecondsAfterFinished after they finished (0: at once)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.queue: WorkQueue[tuple[str, str, str]] = WorkQueue("ttl-after-finished", self.sync)
        # uid -> monotonic time the Job was first seen finished: the timer starts there.
        self._finished_at: dict[str, float] = {}

    def on_change(self, change: Change) -> None:
        job = change.obj
        meta = job["metadata"]
        if change.type == "DELETED":
            self._finished_at.pop(meta["uid"], None)
            return
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None or not job_finished(job) or is_deleting(job):
            return
        finished_at = self._finished_at.setdefault(meta["uid"], time.monotonic())
        delay = finished_at + float(ttl) - time.monotonic()
        self.queue.add_after((meta["namespace"], meta["name"], meta["uid"]), delay)

    def sync(self, key: tuple[str, str, str]) -> None:
        namespace, name, uid = key
        job = self._ctx.object_store.peek(JOBS, namespace, name)
        if job is None or job["metadata"]["uid"] != uid or is_deleting(job):
            return
        # The real TTL controller deletes with Foreground propagation, so the Job's pods go before it does.
        try:
            self._ctx.object_store.delete(
                JOBS, namespace, name, propagation="Foreground", preconditions={"uid": uid}
            )
        except errors.ApiError:
            return
