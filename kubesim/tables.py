"""Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for, with the usual columns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubesim.resources import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any]]  # name, type, cell


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a Table (kubectl sends `application/json;as=Table;...` first)."""
    return "as=Table" in accept


def age(obj: Obj) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = int(
        (datetime.now(UTC) - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()
    )
    return _duration(max(seconds, 0))


def _duration(seconds: int) -> str:
    # kubectl's HumanDuration, simplified: 45s, 5m3s, 3h4m, 2d3h.
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours < 3:
        return f"{minutes}m{seconds % 60}s" if minutes < 10 else f"{minutes}m"
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if hours < 8 else f"{hours}h"
    return f"{hours // 24}d{hours % 24}h" if hours < 24 * 8 else f"{hours // 24}d"


def _status(obj: Obj) -> Obj:
    return dict(obj.get("status") or {})


def _spec(obj: Obj) -> Obj:
    return dict(obj.get("spec") or {})


def _pod_ready(obj: Obj) -> str:
    statuses = _status(obj).get("containerStatuses") or []
    total = len(_spec(obj).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(obj: Obj) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for status in _status(obj).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
        terminated = (status.get("state") or {}).get("terminated")
        if (
            terminated
            and terminated.get("reason")
            and _status(obj).get("phase") not in ("Succeeded", "Failed")
        ):
            return str(terminated["reason"])
    phase = _status(obj).get("phase", "Pending")
    return "Completed" if phase == "Succeeded" else "Error" if phase == "Failed" else str(phase)


def _restarts(obj: Obj) -> int:
    return sum(int(s.get("restartCount", 0)) for s in _status(obj).get("containerStatuses") or [])


def _ready_of(obj: Obj) -> str:
    return f"{_status(obj).get('readyReplicas', 0)}/{_spec(obj).get('replicas', 0)}"


def _job_status(obj: Obj) -> str:
    conditions = {c.get("type"): c.get("status") for c in _status(obj).get("conditions") or []}
    if conditions.get("Complete") == "True":
        return "Complete"
    if conditions.get("Failed") == "True":
        return "Failed"
    return "Running"


def _node_status(obj: Obj) -> str:
    ready = [c for c in _status(obj).get("conditions") or [] if c.get("type") == "Ready"]
    return "Ready" if ready and ready[0].get("status") == "True" else "NotReady"


def _ports(obj: Obj) -> str:
    ports = _spec(obj).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _involved(obj: Obj) -> str:
    ref = obj.get("involvedObject") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


_NAME: Column = ("Name", "string", lambda o: o["metadata"]["name"])
_AGE: Column = ("Age", "string", age)

_COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        _NAME,
        ("Ready", "string", _pod_ready),
        ("Status", "string", _pod_status),
        ("Restarts", "string", lambda o: str(_restarts(o))),
        _AGE,
    ],
    "Deployment": [
        _NAME,
        ("Ready", "string", _ready_of),
        ("Up-to-date", "integer", lambda o: _status(o).get("updatedReplicas", 0)),
        ("Available", "integer", lambda o: _status(o).get("availableReplicas", 0)),
        _AGE,
    ],
    "ReplicaSet": [
        _NAME,
        ("Desired", "integer", lambda o: _spec(o).get("replicas", 0)),
        ("Current", "integer", lambda o: _status(o).get("replicas", 0)),
        ("Ready", "integer", lambda o: _status(o).get("readyReplicas", 0)),
        _AGE,
    ],
    "StatefulSet": [_NAME, ("Ready", "string", _ready_of), _AGE],
    "Job": [
        _NAME,
        ("Status", "string", _job_status),
        (
            "Completions",
            "string",
            lambda o: f"{_status(o).get('succeeded', 0)}/{_spec(o).get('completions', 1)}",
        ),
        _AGE,
    ],
    "PersistentVolumeClaim": [
        _NAME,
        ("Status", "string", lambda o: _status(o).get("phase", "")),
        ("Volume", "string", lambda o: _spec(o).get("volumeName", "")),
        ("Capacity", "string", lambda o: (_status(o).get("capacity") or {}).get("storage", "")),
        ("StorageClass", "string", lambda o: _spec(o).get("storageClassName", "")),
        _AGE,
    ],
    "Node": [
        _NAME,
        ("Status", "string", _node_status),
        ("Roles", "string", lambda o: "<none>"),
        _AGE,
        ("Version", "string", lambda o: (_status(o).get("nodeInfo") or {}).get("kubeletVersion", "")),
    ],
    "Namespace": [_NAME, ("Status", "string", lambda o: _status(o).get("phase", "")), _AGE],
    "Service": [
        _NAME,
        ("Type", "string", lambda o: _spec(o).get("type", "")),
        ("Cluster-IP", "string", lambda o: _spec(o).get("clusterIP", "")),
        ("Port(s)", "string", _ports),
        _AGE,
    ],
    "Ingress": [
        _NAME,
        ("Class", "string", lambda o: _spec(o).get("ingressClassName", "<none>")),
        (
            "Hosts",
            "string",
            lambda o: ",".join(r.get("host", "*") for r in _spec(o).get("rules") or []) or "*",
        ),
        ("Ports", "string", lambda o: "80, 443" if _spec(o).get("tls") else "80"),
        _AGE,
    ],
    "Event": [
        ("Last Seen", "string", lambda o: age({"metadata": {"creationTimestamp": o.get("lastTimestamp")}})),
        ("Type", "string", lambda o: o.get("type", "")),
        ("Reason", "string", lambda o: o.get("reason", "")),
        ("Object", "string", _involved),
        ("Message", "string", lambda o: o.get("message", "")),
    ],
}


def table(rt: ResourceType, items: list[Obj], resource_version: str) -> Obj:
    """A Table of `items`, each row carrying the object's metadata as kubectl expects."""
    columns = _COLUMNS.get(rt.kind, [_NAME, _AGE])
    definitions = [
        {
            "name": name,
            "type": kind,
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": 0,
        }
        for name, kind, _ in columns
    ]
    rows = [
        {
            "cells": [cell(obj) for _, _, cell in columns],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            },
        }
        for obj in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
