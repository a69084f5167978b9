"""Small helpers over API objects shared by the controllers (owner references, conditions, hashes)."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from kubesim.object_store import Obj
from kubesim.timeutil import now_rfc3339

# The alphabet of generated names and pod-template-hash values: no vowels, no look-alikes.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def owner_reference(owner: Obj, *, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def is_deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def template_hash(value: Any, length: int = 10) -> str:
    """A short stable hash of a pod template, spelled like pod-template-hash values."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:length])


def hex_digest(*parts: str) -> str:
    """64 hex characters derived from `parts`: stable fake image digests and container ids."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def get_condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def condition_true(obj: Obj, type_: str) -> bool:
    cond = get_condition(obj, type_)
    return cond is not None and cond.get("status") == "True"


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    probe_time: bool = False,
    update_time: bool = False,
) -> None:
    """Set a condition in place; lastTransitionTime moves only when the status flips, as controllers do.

    `probe_time` adds a null lastProbeTime (pods, jobs); `update_time` keeps a lastUpdateTime that
    moves when the reason or message change (deployments).
    """
    now = now_rfc3339()
    for cond in conditions:
        if cond.get("type") != type_:
            continue
        if cond.get("status") != status:
            cond["lastTransitionTime"] = now
        if update_time and (cond.get("reason") != reason or cond.get("message") != message):
            cond["lastUpdateTime"] = now
        cond["status"] = status
        _set_optional(cond, "reason", reason)
        _set_optional(cond, "message", message)
        return
    cond = {"type": type_, "status": status}
    if probe_time:
        cond["lastProbeTime"] = None
    if update_time:
        cond["lastUpdateTime"] = now
    cond["lastTransitionTime"] = now
    _set_optional(cond, "reason", reason)
    _set_optional(cond, "message", message)
    conditions.append(cond)


def _set_optional(cond: dict[str, Any], key: str, value: str | None) -> None:
    if value is None:
        cond.pop(key, None)
    else:
        cond[key] = value


def pod_ready(pod: Obj) -> bool:
    return condition_true(pod, "Ready")


def pod_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_active(pod: Obj) -> bool:
    """Counted by workload controllers: neither terminating nor finished."""
    return not is_deleting(pod) and not pod_terminal(pod)


def omit_zero(status: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Drop int fields that are 0, as Go's omitempty does when the controller serialises its status."""
    for key in keys:
        if status.get(key) == 0:
            del status[key]
    return status


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """An intstr (`2` or `"25%"`) scaled against `total`, as intstr.GetScaledValueFromIntOrPercent does."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            return 0
        scaled = percent * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
