"""API-server defaulting that clients rely on (helm's readiness checks read several of these)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kubesim.resources import ResourceType

Obj = dict[str, Any]


def initial_status(rt: ResourceType, obj: Obj) -> Obj:
    """The status the server writes on create, whatever the client sent (strategies reset it)."""
    if rt.kind == "Namespace":
        return {"phase": "Active"}
    if rt.kind == "Pod":
        return {"phase": "Pending", "qosClass": _qos_class(obj.get("spec") or {})}
    if rt.kind == "PersistentVolumeClaim":
        return {"phase": "Pending"}
    if rt.kind == "PersistentVolume":
        return {"phase": "Pending"}
    if rt.kind in ("Service", "Ingress"):
        return {"loadBalancer": {}}
    return {}


def apply_defaults(rt: ResourceType, obj: Obj) -> None:
    """Fill the defaults the real API server sets, in place; deterministic for a given object."""
    spec = obj.get("spec")
    meta = obj["metadata"]
    if rt.kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif rt.kind == "Secret":
        obj.setdefault("type", "Opaque")
        # stringData is write-only: the server folds it into data (base64) and never stores it.
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.get("data") or {}
            data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()})
            obj["data"] = data
    elif not isinstance(spec, dict):
        return
    elif rt.kind == "Pod":
        _pod_spec(spec)
    elif rt.kind == "Service":
        _service(meta, spec)
    elif rt.kind == "Deployment":
        spec.setdefault("replicas", 1)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy["type"] = "RollingUpdate"
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        _template(spec)
    elif rt.kind == "StatefulSet":
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
        )
        for claim in spec.get("volumeClaimTemplates") or []:
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            claim_spec = claim.setdefault("spec", {})
            claim_spec.setdefault("volumeMode", "Filesystem")
            claim.setdefault("status", {"phase": "Pending"})
        _template(spec)
    elif rt.kind in ("ReplicaSet", "DaemonSet"):
        if rt.kind == "ReplicaSet":
            spec.setdefault("replicas", 1)
        _template(spec)
    elif rt.kind == "Job":
        _job(meta, spec)
    elif rt.kind == "CronJob":
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        job_spec.setdefault("backoffLimit", 6)
        _template(job_spec)
    elif rt.kind == "PersistentVolumeClaim":
        spec.setdefault("volumeMode", "Filesystem")
    elif rt.kind == "Ingress":
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                path.setdefault("pathType", "ImplementationSpecific")


def _template(spec: Obj) -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    _pod_spec(template.setdefault("spec", {}))


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        image = str(container.get("image", ""))
        tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
        container.setdefault("imagePullPolicy", "IfNotPresent" if tagged or "@" in image else "Always")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _service(meta: Obj, spec: Obj) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = _cluster_ip(meta)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _cluster_ip(meta: Obj) -> str:
    # Deterministic from the uid, so re-defaulting an update keeps the allocated address.
    digest = hashlib.sha256(str(meta.get("uid", meta.get("name"))).encode()).digest()
    return f"10.96.{digest[0]}.{max(digest[1], 1)}"


def _job(meta: Obj, spec: Obj) -> None:
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    uid = meta.get("uid", "")
    name = meta["name"]
    # The Job controller's selector: labels the server adds to the Job and its pod template.
    generated = {"batch.kubernetes.io/controller-uid": uid}
    if not spec.get("manualSelector"):
        spec.setdefault("selector", {"matchLabels": generated})
    # A Job's pods must not restart forever; the real server rejects "Always" here, we default it instead.
    spec.setdefault("template", {}).setdefault("spec", {}).setdefault("restartPolicy", "Never")
    _template(spec)
    labels = spec["template"]["metadata"].setdefault("labels", {})
    labels.update(
        {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
    )


def _qos_class(spec: Obj) -> str:
    containers = spec.get("containers") or []
    if not containers:
        return "BestEffort"
    requests_any = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        requests_any = requests_any or bool(limits) or bool(requests)
        for res in ("cpu", "memory"):
            if res not in limits or requests.get(res, limits[res]) != limits[res]:
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if requests_any else "BestEffort"
