"""The endpoints controller: an Endpoints object per selector Service listing the pods behind it."""

from __future__ import annotations

from typing import Any

from kubesim import errors
from kubesim.controllers.objects import is_deleting, pod_ready, pod_terminal
from kubesim.controllers.runtime import Context, WorkQueue
from kubesim.jsondata import clone
from kubesim.object_store import Change, Obj
from kubesim.resources import resource

SERVICES = resource("", "services")
ENDPOINTS = resource("", "endpoints")
PODS = resource("", "pods")
_MANAGED = "endpoints.kubernetes.io/managed-by"
_MANAGER = "endpoint-controller"


class EndpointsController:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.queue: WorkQueue[tuple[str, str]] = WorkQueue("endpoints", self.sync)

    def on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        namespace = meta.get("namespace", "")
        if change.rt is SERVICES:
            self.queue.add((namespace, meta["name"]))
        elif change.rt is PODS:
            old_ip = ((change.old or {}).get("status") or {}).get("podIP")
            new_ip = (change.obj.get("status") or {}).get("podIP")
            if change.old is not None and old_ip == new_ip and not new_ip:
                return  # a pod without an address changes no endpoints
            for name in self._ctx.index.names_in_namespace(namespace, "Service"):
                self.queue.add((namespace, name))

    def sync(self, key: tuple[str, str]) -> None:
        namespace, name = key
        object_store = self._ctx.object_store
        service = object_store.peek(SERVICES, namespace, name)
        existing = object_store.peek(ENDPOINTS, namespace, name)
        if service is None or is_deleting(service):
            if existing is not None and (existing["metadata"].get("labels") or {}).get(_MANAGED) == _MANAGER:
                try:
                    object_store.delete(ENDPOINTS, namespace, name)
                except errors.ApiError:
                    return
            return
        spec = service.get("spec") or {}
        selector = spec.get("selector")
        if not selector or spec.get("type") == "ExternalName":
            return  # endpoints of a selectorless Service are the user's to manage
        pods = [
            p
            for p in (
                object_store.peek(PODS, namespace, n)
                for n in self._ctx.index.names_in_namespace(namespace, "Pod")
            )
            if p is not None
            and not pod_terminal(p)
            and not is_deleting(p)
            and (p.get("status") or {}).get("podIP")
            and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]
        body = self._desired(service, pods)
        if existing is None:
            try:
                object_store.create(ENDPOINTS, namespace, body)
            except errors.ApiError:
                return
            return
        new = clone(existing)
        new["metadata"]["labels"] = body["metadata"]["labels"]
        new.pop("subsets", None)
        if "subsets" in body:
            new["subsets"] = body["subsets"]
        if new != existing:
            object_store.write_internal(ENDPOINTS, new)

    def _desired(self, service: Obj, pods: list[Obj]) -> Obj:
        labels = {**(service["metadata"].get("labels") or {}), _MANAGED: _MANAGER}
        if service["spec"].get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        for pod in sorted(pods, key=lambda p: str(p["status"]["podIP"])):
            address: dict[str, Any] = {
                "ip": pod["status"]["podIP"],
                "targetRef": {
                    "kind": "Pod",
                    "namespace": pod["metadata"]["namespace"],
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            if pod["spec"].get("nodeName"):
                address["nodeName"] = pod["spec"]["nodeName"]
            if pod["spec"].get("hostname") and pod["spec"].get("subdomain") == service["metadata"]["name"]:
                address["hostname"] = pod["spec"]["hostname"]
            (ready if pod_ready(pod) else not_ready).append(address)
        ports = []
        for port in service["spec"].get("ports") or []:
            target = _resolve_port(port.get("targetPort", port.get("port")), pods)
            if target is not None:
                entry = {"port": target, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
        body: Obj = {"metadata": {"name": service["metadata"]["name"], "labels": labels}}
        if (ready or not_ready) and ports:
            subset: dict[str, Any] = {"ports": ports}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            body["subsets"] = [subset]
        return body


def _resolve_port(target: Any, pods: list[Obj]) -> int | None:
    """A Service targetPort: a number, or a container port name looked up in the pods."""
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for pod in pods:
        for container in pod["spec"].get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == target:
                    return int(port["containerPort"])
    return None
