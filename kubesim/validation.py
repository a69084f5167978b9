"""The API server's validation that clients depend on: names, selectors, immutable fields."""

from __future__ import annotations

import re
from typing import Any

from kubesim import errors
from kubesim.resources import ResourceType
from kubesim.selectors import match_label_selector_object

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(rf"^{_LABEL}$")
_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    f"'{_LABEL}')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    f"'{_LABEL}(\\.{_LABEL})*')"
)
# StatefulSet fields an update may change; everything else in its spec is immutable.
_STS_MUTABLE = {
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "revisionHistoryLimit",
}

Cause = dict[str, str]


def _invalid_value(field: str, value: Any, why: str) -> Cause:
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {_quote(value)}: {why}",
        "field": field,
    }


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def name_causes(rt: ResourceType, name: str) -> list[Cause]:
    if not name:
        return [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: name or generateName is required",
                "field": "metadata.name",
            }
        ]
    if rt.name_is_label:
        if len(name) > 63:
            return [_invalid_value("metadata.name", name, "must be no more than 63 characters")]
        if not _LABEL_RE.match(name):
            return [_invalid_value("metadata.name", name, _LABEL_MSG)]
        return []
    if len(name) > 253:
        return [_invalid_value("metadata.name", name, "must be no more than 253 characters")]
    if not _SUBDOMAIN_RE.match(name):
        return [_invalid_value("metadata.name", name, _SUBDOMAIN_MSG)]
    return []


def _label_causes(labels: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if labels is None:
        return causes
    if not isinstance(labels, dict):
        return [_invalid_value(path, labels, "must be a map of strings")]
    for key, value in labels.items():
        prefix, _, local = key.rpartition("/")
        if (
            (prefix and (len(prefix) > 253 or not _SUBDOMAIN_RE.match(prefix)))
            or len(local) > 63
            or not (_QUALIFIED_NAME_RE.match(local))
        ):
            causes.append(
                _invalid_value(
                    path,
                    key,
                    "name part must consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE_RE.match(value):
            causes.append(
                _invalid_value(
                    f"{path}",
                    value,
                    "a valid label must be an empty string or consist of "
                    "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character, at most 63 characters",
                )
            )
    return causes


def _template_causes(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    if rt.kind not in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"):
        return []
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector:
        return [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"}]
    if not match_label_selector_object(selector, labels):
        return [
            _invalid_value(
                "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
            )
        ]
    return []


def validate_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    name = str(meta.get("name") or "")
    causes = name_causes(rt, name)
    causes += _label_causes(meta.get("labels"), "metadata.labels")
    causes += _template_causes(rt, obj)
    if causes:
        raise errors.invalid(rt.kind, rt.group, name, causes)


def validate_update(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Reject changes the real server forbids, such as a Job's pod template."""
    name = new["metadata"]["name"]
    causes = _label_causes(new["metadata"].get("labels"), "metadata.labels") + _template_causes(rt, new)
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if rt.kind == "Job":
        for field in ("template", "selector", "completions", "completionMode"):
            if _strip_job_labels(old_spec.get(field)) != _strip_job_labels(new_spec.get(field)):
                causes.append(_invalid_value(f"spec.{field}", "...", "field is immutable"))
    elif rt.kind == "StatefulSet":
        changed = {k for k in set(old_spec) | set(new_spec) if old_spec.get(k) != new_spec.get(k)}
        if changed - _STS_MUTABLE:
            causes.append(
                {
                    "reason": "FieldValueForbidden",
                    "field": "spec",
                    "message": "Forbidden: updates to statefulset spec for fields other than 'replicas', "
                    "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                    "'minReadySeconds' are forbidden",
                }
            )
    elif rt.kind in ("Deployment", "ReplicaSet", "DaemonSet") and old_spec.get("selector") != new_spec.get(
        "selector"
    ):
        causes.append(_invalid_value("spec.selector", new_spec.get("selector"), "field is immutable"))
    elif (
        rt.kind == "Service"
        and old_spec.get("clusterIP")
        and new_spec.get("clusterIP") != old_spec.get("clusterIP")
    ):
        causes.append(_invalid_value("spec.clusterIP", new_spec.get("clusterIP"), "field is immutable"))
    if causes:
        raise errors.invalid(rt.kind, rt.group, name, causes)


def _strip_job_labels(value: Any) -> Any:
    # The server adds controller-uid and job-name labels to the Job template itself; clients never send them.
    if not isinstance(value, dict):
        return value
    clean = dict(value)
    meta = dict(clean.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if not _is_job_label(k)}
    meta["labels"] = labels
    clean["metadata"] = meta
    if "matchLabels" in clean:
        clean["matchLabels"] = {k: v for k, v in clean["matchLabels"].items() if not _is_job_label(k)}
    return clean


def _is_job_label(key: str) -> bool:
    return key in (
        "controller-uid",
        "job-name",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-name",
    )
