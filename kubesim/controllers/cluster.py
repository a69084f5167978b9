"""What a fresh cluster holds before anyone uses it: system namespaces, the node, default classes."""

from __future__ import annotations

from typing import Any

from kubesim import errors
from kubesim.controllers.crds import CERT_MANAGER_TYPES, CRDS, crd_body, crd_status
from kubesim.controllers.kubelet import HOST_IP, NODE_NAME
from kubesim.controllers.volumes import DEFAULT_CLASS, PROVISIONER
from kubesim.jsondata import clone
from kubesim.object_store import Obj, ObjectStore
from kubesim.resources import ResourceType, resource
from kubesim.settings import Settings
from kubesim.timeutil import now_rfc3339

NAMESPACES = resource("", "namespaces")
NODES = resource("", "nodes")
STORAGE_CLASSES = resource("storage.k8s.io", "storageclasses")
INGRESS_CLASSES = resource("networking.k8s.io", "ingressclasses")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_CAPACITY = {
    "cpu": "8",
    "memory": "32859496Ki",
    "ephemeral-storage": "263174212Ki",
    "hugepages-2Mi": "0",
    "pods": "110",
}


def seed(object_store: ObjectStore, settings: Settings) -> None:
    """Create the cluster's standing objects; those already there are left alone."""
    for name in SYSTEM_NAMESPACES:
        _create(object_store, NAMESPACES, {"metadata": {"name": name}})
    node = _create(object_store, NODES, _node_body())
    if node is not None:
        with_status = clone(node)
        with_status["status"] = _node_status(settings)
        object_store.write_internal(NODES, with_status)
    _create(
        object_store,
        STORAGE_CLASSES,
        {
            "metadata": {
                "name": DEFAULT_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": True,
        },
    )
    _create(
        object_store,
        INGRESS_CLASSES,
        {
            "metadata": {
                "name": "nginx",
                "labels": {
                    "app.kubernetes.io/name": "ingress-nginx",
                    "app.kubernetes.io/component": "controller",
                },
            },
            "spec": {"controller": "k8s.io/ingress-nginx"},
        },
    )
    for rt in CERT_MANAGER_TYPES if settings.cert_manager else ():
        crd = _create(object_store, CRDS, crd_body(rt))
        if crd is not None:
            established = clone(crd)
            established["status"] = crd_status(rt)
            object_store.write_internal(CRDS, established)


def _create(object_store: ObjectStore, rt: ResourceType, body: Obj) -> Obj | None:
    try:
        return object_store.create(rt, "", body)
    except errors.ApiError as exc:
        if exc.reason == "AlreadyExists":
            return None
        raise


def _node_body() -> Obj:
    return {
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "podCIDR": "10.244.0.0/24",
            "podCIDRs": ["10.244.0.0/24"],
            "providerID": f"kind://docker/kubesim/{NODE_NAME}",
        },
    }


def _node_status(settings: Settings) -> dict[str, Any]:
    now = now_rfc3339()

    def condition(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": type_,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    return {
        "capacity": dict(_CAPACITY),
        "allocatable": dict(_CAPACITY),
        "conditions": [
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition(
                "PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"
            ),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": HOST_IP}, {"type": "Hostname", "address": NODE_NAME}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "6f1c0e7ad1b54a0c9d3e2f4a5b6c7d8e",
            "systemUUID": "6f1c0e7a-d1b5-4a0c-9d3e-2f4a5b6c7d8e",
            "bootID": "0c2f6a3e-8d4b-4e1f-9a7c-5b3d2e1f0a9c",
            "kernelVersion": "6.8.0-kubesim",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "containerd://2.1.4",
            "kubeletVersion": settings.server_version,
            "kubeProxyVersion": settings.server_version,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
        "images": [],
    }
