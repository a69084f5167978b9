"""core/v1 Events as a kubelet or controller writes them."""

from __future__ import annotations

import secrets
from typing import Any

from kubesim import errors
from kubesim.jsondata import clone
from kubesim.object_store import Obj, ObjectStore
from kubesim.resources import resource
from kubesim.timeutil import now_micro, now_rfc3339

EVENTS = resource("", "events")


def record_event(
    object_store: ObjectStore,
    involved: Obj,
    *,
    reason: str,
    message: str,
    component: str,
    type_: str = "Normal",
    field_path: str = "",
) -> Obj | None:
    """Write an Event about `involved`; None when its namespace is gone or terminating (the API refuses)."""
    meta = involved["metadata"]
    namespace = meta.get("namespace") or "default"
    now = now_rfc3339()
    involved_ref: dict[str, Any] = {
        "kind": involved.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "apiVersion": involved.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if field_path:
        involved_ref["fieldPath"] = field_path
    # Event names are the object's name and a hex timestamp-like suffix, as client-go's recorder makes them.
    event = {
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": involved_ref,
        "reason": reason,
        "message": message,
        "source": {"component": component, **({"host": "kubesim-node"} if component == "kubelet" else {})},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "eventTime": None,
        "count": 1,
        "type": type_,
        "reportingComponent": component,
        "reportingInstance": "kubesim-node" if component == "kubelet" else "",
    }
    try:
        return object_store.create(EVENTS, namespace, event)
    except errors.ApiError:
        return None


class EventRecorder:
    """Records Events, folding a repeat of the same event about the same object into a `count` bump.

    client-go's EventCorrelator does the same, which is why a crash-looping pod shows one BackOff
    event with a growing count rather than thousands of objects.
    """

    def __init__(self, object_store: ObjectStore) -> None:
        self._object_store = object_store
        # involved uid -> (reason, message, fieldPath, type) -> (namespace, event name)
        self._seen: dict[str, dict[tuple[str, str, str, str], tuple[str, str]]] = {}

    def record(
        self,
        involved: Obj,
        *,
        reason: str,
        message: str,
        component: str,
        type_: str = "Normal",
        field_path: str = "",
    ) -> Obj | None:
        uid = str(involved["metadata"].get("uid", ""))
        key = (reason, message, field_path, type_)
        seen = self._seen.get(uid, {}).get(key)
        if seen is not None:
            existing = self._object_store.peek(EVENTS, *seen)
            if existing is not None:
                bumped = clone(existing)
                bumped["count"] = int(bumped.get("count") or 1) + 1
                bumped["lastTimestamp"] = now_rfc3339()
                try:
                    return self._object_store.write_internal(EVENTS, bumped)
                except errors.ApiError:
                    return None
        event = record_event(
            self._object_store,
            involved,
            reason=reason,
            message=message,
            component=component,
            type_=type_,
            field_path=field_path,
        )
        if event is not None and uid:
            self._seen.setdefault(uid, {})[key] = (event["metadata"]["namespace"], event["metadata"]["name"])
        return event

    def forget(self, uid: str) -> None:
        """Drop what is remembered about an object that is gone."""
        self._seen.pop(uid, None)


__all__ = ["EVENTS", "EventRecorder", "now_micro", "record_event"]
