"""Watch events in words: the StoreEvents (source kubernetes) that a change to an object deserves. Pure.

Objects are described by state, not by event: each object has a signature (its readiness, completion, ...)
and a note is produced only when the signature changes, so the stream of MODIFIED events that status updates
bring (every probe, every resourceVersion bump) does not become a stream of identical StoreEvents.
core/v1 Events are relayed as they are, Warnings always, Normals only for the reasons a person follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from storeplane.events.models import EventType
from storeplane.observing.readiness import condition, is_true, job_state, workload_ready

Obj = dict[str, Any]

# Normal kubelet/controller reasons worth showing; the rest (SuccessfulCreate, ScalingReplicaSet, namespace
# controller chatter, ...) would drown the steps a person cares about.
RELAYED_NORMAL_REASONS = frozenset({"Scheduled", "Pulled", "Started", "Killing", "ProvisioningSucceeded"})
# Kinds whose Events are relayed; the Job's own "Completed" Event is not, the Job's status says it better.
RELAYED_EVENT_KINDS = frozenset(
    {"Pod", "StatefulSet", "Deployment", "ReplicaSet", "Job", "PersistentVolumeClaim", "Ingress"}
)
_QUOTED = re.compile(r'"([^"]+)"')
# cert-manager's reason while a Certificate's first Secret is being issued: routine, not worth a Warning.
CERTIFICATE_ISSUING_REASON = "DoesNotExist"


@dataclass(frozen=True)
class Note:
    """One StoreEvent-to-be, without its store."""

    type: EventType
    reason: str
    message: str
    kind: str
    name: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two notes the same (used to skip what an earlier process already wrote)."""
        return (self.kind, self.name, self.reason, self.message)


def signature(kind: str, obj: Obj) -> str:
    """The state of an object that notes are about."""
    if kind == "Pod":
        phase = str((obj.get("status") or {}).get("phase", "Pending"))
        if phase in ("Succeeded", "Failed"):
            return phase
        return "ready" if is_true(obj, "Ready") else "unready"
    if kind in ("StatefulSet", "Deployment"):
        return "ready" if workload_ready(obj) else "unready"
    if kind == "Job":
        return job_state(obj)
    if kind == "PersistentVolumeClaim":
        return str((obj.get("status") or {}).get("phase", "Pending"))
    if kind == "Certificate":
        ready = condition(obj, "Ready")
        if ready is None:
            return "created"
        return "issued" if ready.get("status") == "True" else f"unready:{ready.get('reason', '')}"
    return "exists"


def object_notes(kind: str, obj: Obj, *, previous: str | None, deleted: bool) -> list[Note]:
    """Notes for an object whose signature went from `previous` (None: first seen) to its current one."""
    name = str(obj["metadata"]["name"])
    if deleted:
        if kind in ("StatefulSet", "Deployment", "Ingress", "PersistentVolumeClaim"):
            return [Note(EventType.WARNING, "Deleted", f"{kind} {name} deleted", kind, name)]
        return []
    current = signature(kind, obj)
    if current == previous:
        return []
    if kind == "Pod":
        if current == "ready":
            return [Note(EventType.NORMAL, "PodReady", f"Pod {name} is ready", kind, name)]
        if current == "unready" and previous == "ready":
            return [Note(EventType.WARNING, "PodNotReady", f"Pod {name} is no longer ready", kind, name)]
        if current == "Failed":
            return [Note(EventType.WARNING, "PodFailed", f"Pod {name} failed", kind, name)]
        return []
    if kind in ("StatefulSet", "Deployment"):
        status = obj.get("status") or {}
        counted = status.get("readyReplicas" if kind == "StatefulSet" else "availableReplicas") or 0
        wanted = (obj.get("spec") or {}).get("replicas", 1)
        if current == "ready":
            return [
                Note(
                    EventType.NORMAL, "WorkloadReady", f"{kind} {name} ready ({counted}/{wanted})", kind, name
                )
            ]
        if previous == "ready":
            message = f"{kind} {name} no longer ready ({counted}/{wanted})"
            return [Note(EventType.WARNING, "WorkloadNotReady", message, kind, name)]
        return []
    if kind == "Job":
        if current == "complete":
            return [Note(EventType.NORMAL, "JobCompleted", f"Job {name} completed", kind, name)]
        if current == "failed":
            cond: Obj = next(
                (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Failed"),
                {},
            )
            detail = cond.get("message") or cond.get("reason") or "no reason given"
            return [Note(EventType.WARNING, "JobFailed", f"Job {name} failed: {detail}", kind, name)]
        return []
    if kind == "PersistentVolumeClaim":
        if current == "Bound":
            return [Note(EventType.NORMAL, "ClaimBound", f"PersistentVolumeClaim {name} bound", kind, name)]
        return []
    if kind == "Certificate":
        return _certificate_notes(name, obj, current=current, previous=previous)
    if kind == "Ingress" and previous is None:
        hosts = ", ".join(
            str(rule.get("host")) for rule in (obj.get("spec") or {}).get("rules") or [] if rule.get("host")
        )
        return [
            Note(
                EventType.NORMAL,
                "IngressCreated",
                f"Ingress {name} created for {hosts or 'any host'}",
                kind,
                name,
            )
        ]
    return []


def _certificate_notes(name: str, obj: Obj, *, current: str, previous: str | None) -> list[Note]:
    if current == "issued":
        until = (obj.get("status") or {}).get("notAfter")
        message = f"Certificate {name} issued" + (f", valid until {until}" if until else "")
        return [Note(EventType.NORMAL, "CertificateIssued", message, "Certificate", name)]
    if not current.startswith("unready:"):
        return []
    ready = condition(obj, "Ready") or {}
    message = (
        f"Certificate {name} not issued: {ready.get('message') or ready.get('reason') or 'no reason given'}"
    )
    if ready.get("reason") == CERTIFICATE_ISSUING_REASON and previous != "issued":
        # Every new Certificate says this until its Secret is written: a Normal step, not an alarm.
        return [Note(EventType.NORMAL, "CertificateIssuing", message, "Certificate", name)]
    return [Note(EventType.WARNING, "CertificateNotReady", message, "Certificate", name)]


def ingress_ready_note(name: str, url: str) -> Note:
    return Note(EventType.NORMAL, "IngressReady", f"Ingress ready at {url}", "Ingress", name)


def kubernetes_event_note(event: Obj) -> Note | None:
    """A core/v1 Event as a note, or None when it is not one a store owner should see."""
    involved = event.get("involvedObject") or {}
    kind, name = str(involved.get("kind", "")), str(involved.get("name", ""))
    reason, message = str(event.get("reason", "")), str(event.get("message", ""))
    warning = event.get("type") == "Warning"
    if kind not in RELAYED_EVENT_KINDS or (not warning and reason not in RELAYED_NORMAL_REASONS):
        return None
    text = f"{kind} {name}: {reason}: {message}"
    if kind == "Pod" and not warning:
        images = _QUOTED.findall(message)
        container = _container(event)
        if reason == "Pulled" and images:
            text = f"Pod {name} pulled image {images[0]}"
        elif reason == "Started" and container:
            text = f"Pod {name} started container {container}"
        elif reason == "Scheduled":
            text = f"Pod {name} scheduled: {message}"
    count = int(event.get("count") or 1)
    if count > 1:
        text += f" (seen {count} times)"
    return Note(EventType.WARNING if warning else EventType.NORMAL, reason or "Event", text, kind, name)


def should_relay_count(count: int, last: int | None) -> bool:
    """Repeats of one Event (its count rising) are relayed at counts 1, 2, 4, 8, ...: a BackOff repeated
    every ten seconds for an hour is a dozen StoreEvents, not 360, and still shows that it goes on."""
    if last is not None and count <= last:
        return False
    return count & (count - 1) == 0


def _container(event: Obj) -> str | None:
    path = str((event.get("involvedObject") or {}).get("fieldPath", ""))
    match = re.search(r"\{([^}]+)\}", path)
    return match.group(1) if match else None
