"""Readiness and progress of one store, computed from the watched objects of its namespace. Pure functions.

The contract (docs/chart.md): a store is Ready when every workload its engine names is ready, the newest
setup Job has completed, and every step that applies holds (with TLS on: its Certificate issued). A reason
for "not ready" names the object that holds it up and, for a workload, the pod that is not ready and why (its
waiting container, else its newest Warning event, else its Ready condition), because that is what the owner
has to act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storeplane.engines.catalog import Engine, Step

Obj = dict[str, Any]


@dataclass(frozen=True)
class NamespaceObjects:
    """What the watches know of one store namespace."""

    namespace: Obj | None
    by_kind: Mapping[str, Mapping[str, Obj]]
    """kind -> name -> object (Pod, StatefulSet, Deployment, Job, PersistentVolumeClaim, Ingress, Secret,
    Certificate)."""
    warnings: Mapping[str, str] = field(default_factory=dict)
    """Involved object name -> "Reason: message" of its newest Warning event."""
    completed_jobs: frozenset[str] = frozenset()
    """Jobs of the namespace seen complete, including those since deleted (by their TTL)."""

    def get(self, kind: str, name: str) -> Obj | None:
        return self.by_kind.get(kind, {}).get(name)

    def of_kind(self, kind: str) -> Mapping[str, Obj]:
        return self.by_kind.get(kind, {})


@dataclass(frozen=True)
class Assessment:
    ready: bool
    """Every workload ready and the setup Job complete."""
    waiting_for: tuple[str, ...]
    """Why not ready, one sentence per object, in the engine's order."""
    missing: tuple[str, ...]
    """Objects that are gone (namespace, release, workloads, ingress): drift for a Ready store."""
    failed: str | None
    """A failure no waiting can cure (the setup Job failed)."""
    steps_done: frozenset[str]
    unready_workloads: tuple[str, ...] = ()
    """The subset of waiting_for about workloads (what drift of a Ready store looks at; its setup Job may
    legitimately expire after it finished)."""


def condition(obj: Obj, type_: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def is_true(obj: Obj, type_: str) -> bool:
    cond = condition(obj, type_)
    return cond is not None and cond.get("status") == "True"


def workload_ready(obj: Obj) -> bool:
    """All replicas of the current generation available (ready, for a StatefulSet)."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    replicas = int(spec.get("replicas", 1))
    if obj.get("kind") == "StatefulSet":
        counted = int(status.get("readyReplicas") or 0)
    else:
        counted = int(status.get("availableReplicas") or 0)
    return counted >= replicas and int(status.get("updatedReplicas") or 0) >= replicas


def job_state(job: Obj) -> str:
    """ "complete", "failed" or "running"."""
    if is_true(job, "Complete"):
        return "complete"
    if is_true(job, "Failed"):
        return "failed"
    return "running"


def newest_setup_job(engine: Engine, release: str, objects: NamespaceObjects) -> Obj | None:
    if engine.setup_job is None:
        return None
    jobs = [job for name, job in objects.of_kind("Job").items() if engine.setup_job.matches(name, release)]
    # The name changes when an upgrade changes the Job's inputs (docs/chart.md): the newest one counts.
    jobs.sort(key=lambda job: (str(job["metadata"].get("creationTimestamp", "")), _version(job)))
    return jobs[-1] if jobs else None


def setup_job_state(engine: Engine, release: str, objects: NamespaceObjects) -> tuple[str | None, Obj | None]:
    """The setup Job's state ("complete", "failed", "running") and the Job; (None, None) before it exists.

    The newest Job present decides. With none present, one recorded complete still counts: the chart gives
    finished Jobs a TTL, and its name carries the hash of its inputs, so a later upgrade's Job has another
    name and is not done before it runs.
    """
    job = newest_setup_job(engine, release, objects)
    if job is not None:
        return job_state(job), job
    if engine.setup_job is not None and any(
        engine.setup_job.matches(name, release) for name in objects.completed_jobs
    ):
        return "complete", None
    return None, None


def release_deployed(release: str, objects: NamespaceObjects) -> bool | None:
    """From helm's release Secrets: True when the newest revision is deployed, None when there is none."""
    newest: tuple[int, str] | None = None
    for secret in objects.of_kind("Secret").values():
        labels = secret["metadata"].get("labels") or {}
        if labels.get("owner") != "helm" or labels.get("name") != release:
            continue
        version = int(labels.get("version") or 0)
        if newest is None or version > newest[0]:
            newest = (version, str(labels.get("status", "")))
    return None if newest is None else newest[1] == "deployed"


def pods_of(kind: str, name: str, objects: NamespaceObjects) -> list[Obj]:
    # StatefulSet pods are <name>-<ordinal>; Deployment pods <name>-<replicaset hash>-<suffix>.
    pattern = (
        rf"^{re.escape(name)}-\d+$" if kind == "StatefulSet" else rf"^{re.escape(name)}-[a-z0-9]+-[a-z0-9]+$"
    )
    matcher = re.compile(pattern)
    return [pod for pod_name, pod in sorted(objects.of_kind("Pod").items()) if matcher.match(pod_name)]


def pod_problem(pod: Obj, objects: NamespaceObjects) -> str | None:
    """Why the pod is not ready, or None when it is."""
    if is_true(pod, "Ready"):
        return None
    status = pod.get("status") or {}
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return f"container {container.get('name')} {waiting['reason']}{detail}"
    warning = objects.warnings.get(pod["metadata"]["name"])
    if warning is not None:
        return warning
    ready = condition(pod, "Ready") or {}
    if ready.get("message"):
        return str(ready["message"])
    return f"phase {status.get('phase', 'Pending')}"


def workload_problem(kind: str, name: str, objects: NamespaceObjects) -> str | None:
    obj = objects.get(kind, name)
    if obj is None:
        return f"{kind} {name} not found"
    if workload_ready(obj):
        return None
    for pod in pods_of(kind, name, objects):
        problem = pod_problem(pod, objects)
        if problem is not None:
            return f"Pod {pod['metadata']['name']} not ready: {problem}"
    status = obj.get("status") or {}
    ready = status.get("readyReplicas" if kind == "StatefulSet" else "availableReplicas") or 0
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    return f"{kind} {name} not ready ({ready}/{wanted} replicas)"


# How a `condition` step that does not hold is worded, by (kind, condition); otherwise "not <condition>".
_NOT_HOLDING = {("Certificate", "Ready"): "not issued"}


def condition_problem(step: Step, *, release: str, objects: NamespaceObjects) -> str | None:
    """Why a `condition` step does not hold, naming the object and its condition's message; None if held."""
    name = step.name(release)
    if step.kind is None or name is None or step.condition is None:
        return None
    obj = objects.get(step.kind, name)
    if obj is None:
        return f"{step.kind} {name} not found"
    cond = condition(obj, step.condition)
    if cond is not None and cond.get("status") == "True":
        return None
    words = _NOT_HOLDING.get((step.kind, step.condition), f"not {step.condition}")
    detail = None if cond is None else cond.get("message") or cond.get("reason")
    return f"{step.kind} {name} {words}: {detail or f'no {step.condition} condition yet'}"


def step_done(step: Step, *, engine: Engine, release: str, objects: NamespaceObjects) -> bool:
    if step.check == "namespace":
        return objects.namespace is not None
    if step.check == "release":
        return release_deployed(release, objects) is True
    if step.check == "job":
        return setup_job_state(engine, release, objects)[0] == "complete"
    name = step.name(release)
    if step.kind is None or name is None:
        return False
    obj = objects.get(step.kind, name)
    if step.check == "ready":
        return obj is not None and workload_ready(obj)
    if step.check == "condition":
        return condition_problem(step, release=release, objects=objects) is None
    return obj is not None  # "exists"


def assess(
    *, engine: Engine, release: str, objects: NamespaceObjects, features: frozenset[str] = frozenset()
) -> Assessment:
    """`features`: the environment's (engines.yaml `when`); steps that need another feature do not count."""
    applicable = engine.steps_for(features)
    steps = frozenset(
        step.id for step in applicable if step_done(step, engine=engine, release=release, objects=objects)
    )
    if objects.namespace is None:
        gone = ("Namespace not found",)
        return Assessment(False, gone, gone, None, steps, gone)
    waiting: list[str] = []
    missing: list[str] = []
    unready: list[str] = []
    if release_deployed(release, objects) is None:
        missing.append(f"Release {release} not found")
    for workload in engine.workloads:
        name = workload.name(release)
        problem = workload_problem(workload.kind, name, objects)
        if problem is not None:
            waiting.append(problem)
            unready.append(problem)
            if objects.get(workload.kind, name) is None:
                missing.append(problem)
    failed = None
    if engine.setup_job is not None:
        state, job = setup_job_state(engine, release, objects)
        if state is None:
            waiting.append(f"setup Job {engine.setup_job.name_pattern(release).pattern} not created")
        elif state != "complete" and job is not None:
            job_name = job["metadata"]["name"]
            if state == "failed":
                cond = condition(job, "Failed") or {}
                failed = (
                    f"Job {job_name} failed: {cond.get('message') or cond.get('reason') or 'no reason given'}"
                )
                waiting.append(failed)
            else:
                waiting.append(f"Job {job_name} not complete")
    for step in applicable:
        target = step.name(release)
        if step.check == "exists" and step.kind and target and objects.get(step.kind, target) is None:
            waiting.append(f"{step.kind} {target} not found")
            missing.append(f"{step.kind} {target} not found")
        if step.check == "condition":
            # Waited for, never drift: a Certificate due for renewal or re-issued after an upgrade is briefly
            # not Ready while its Secret still serves the store.
            problem = condition_problem(step, release=release, objects=objects)
            if problem is not None:
                waiting.append(problem)
    return Assessment(not waiting, tuple(waiting), tuple(missing), failed, steps, tuple(unready))


def _version(obj: Obj) -> tuple[int, str]:
    version = str(obj["metadata"].get("resourceVersion", ""))
    return (len(version), version)
