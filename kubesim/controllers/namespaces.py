"""The namespace controller (empty a Terminating namespace, then remove it) and the per-namespace defaults.

Every namespace gets a ServiceAccount `default` (serviceaccount controller) and a ConfigMap
`kube-root-ca.crt` (root-ca-cert-publisher), recreated if deleted while the namespace is Active.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import Counter
from typing import Any

from kubesim import errors
from kubesim.controllers.objects import is_deleting, set_condition
from kubesim.controllers.runtime import Context, WorkQueue
from kubesim.jsondata import clone
from kubesim.object_store import Change
from kubesim.resources import resource

NAMESPACES = resource("", "namespaces")
SERVICE_ACCOUNTS = resource("", "serviceaccounts")
CONFIG_MAPS = resource("", "configmaps")
ROOT_CA = "kube-root-ca.crt"
_ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)


def _fake_ca() -> str:
    blob = base64.b64encode(b"".join(hashlib.sha256(bytes([i])).digest() for i in range(24))).decode()
    lines = [blob[i : i + 64] for i in range(0, len(blob), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


CA_BUNDLE = _fake_ca()


class NamespaceController:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.queue: WorkQueue[str] = WorkQueue("namespace", self.sync)
        self.defaults: WorkQueue[str] = WorkQueue("namespace-defaults", self.ensure_defaults)
        self._terminating: set[str] = set()
        # namespace -> monotonic time it was first seen empty: it is removed namespace_finalize later.
        self._empty_since: dict[str, float] = {}

    def on_change(self, change: Change) -> None:
        obj = change.obj
        meta = obj["metadata"]
        if change.rt is NAMESPACES:
            name = meta["name"]
            if change.type == "DELETED":
                self._terminating.discard(name)
                self._empty_since.pop(name, None)
            elif is_deleting(obj):
                self._terminating.add(name)
                self.queue.add(name)
            else:
                self.defaults.add(name)
            return
        namespace = meta.get("namespace", "")
        if namespace in self._terminating:
            self.queue.add(namespace)
        elif change.type == "DELETED" and (
            (change.rt is SERVICE_ACCOUNTS and meta["name"] == "default")
            or (change.rt is CONFIG_MAPS and meta["name"] == ROOT_CA)
        ):
            self.defaults.add(namespace)

    def ensure_defaults(self, namespace: str) -> None:
        object_store = self._ctx.object_store
        if object_store.namespace_phase(namespace) != "Active":
            return
        bodies: list[tuple[Any, dict[str, Any]]] = [
            (SERVICE_ACCOUNTS, {"metadata": {"name": "default"}}),
            (
                CONFIG_MAPS,
                {
                    "metadata": {
                        "name": ROOT_CA,
                        "annotations": {"kubernetes.io/description": _ROOT_CA_DESCRIPTION},
                    },
                    "data": {"ca.crt": CA_BUNDLE},
                },
            ),
        ]
        for rt, body in bodies:
            if object_store.peek(rt, namespace, body["metadata"]["name"]) is None:
                try:
                    object_store.create(rt, namespace, body)
                except errors.ApiError:
                    continue

    def sync(self, namespace: str) -> None:
        object_store = self._ctx.object_store
        ns = object_store.peek(NAMESPACES, "", namespace)
        if ns is None or not is_deleting(ns):
            self._terminating.discard(namespace)
            return
        for rt, obj in self._ctx.index.in_namespace(namespace):
            if is_deleting(obj):
                continue
            try:
                object_store.delete(rt, namespace, obj["metadata"]["name"], propagation="Background")
            except errors.ApiError:
                continue
        remaining = self._ctx.index.in_namespace(namespace)
        self._write_conditions(namespace, remaining)
        if remaining:
            self._empty_since.pop(namespace, None)
            return
        now = time.monotonic()
        since = self._empty_since.setdefault(namespace, now)
        wait = since + self._ctx.settings.delays.namespace_finalize - now
        if wait > 0:
            self.queue.add_after(namespace, wait)
            return
        ns = object_store.peek(NAMESPACES, "", namespace)
        if ns is None:
            return
        # The "kubernetes" finalizer lives in spec.finalizers; once it is cleared the namespace is gone.
        cleared = clone(ns)
        cleared["spec"]["finalizers"] = []
        object_store.remove_now(NAMESPACES, object_store.write_internal(NAMESPACES, cleared))

    def _write_conditions(self, namespace: str, remaining: list[tuple[Any, Any]]) -> None:
        """The conditions `kubectl describe namespace` shows while a namespace terminates."""
        object_store = self._ctx.object_store
        ns = object_store.peek(NAMESPACES, "", namespace)
        if ns is None:
            return
        counts: Counter[str] = Counter()
        finalizers: Counter[str] = Counter()
        for rt, obj in remaining:
            counts[f"{rt.plural}.{rt.group}"] += 1
            for finalizer in obj["metadata"].get("finalizers") or []:
                finalizers[finalizer] += 1
        new = clone(ns)
        conditions: list[dict[str, Any]] = new["status"].setdefault("conditions", [])
        set_condition(
            conditions,
            "NamespaceDeletionDiscoveryFailure",
            "False",
            reason="ResourcesDiscovered",
            message="All resources successfully discovered",
        )
        set_condition(
            conditions,
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            reason="ParsedGroupVersions",
            message="All legacy kube types successfully parsed",
        )
        set_condition(
            conditions,
            "NamespaceDeletionContentFailure",
            "False",
            reason="ContentDeleted",
            message="All content successfully deleted, may be waiting on finalization",
        )
        if counts:
            detail = ", ".join(f"{k} has {v} resource instances" for k, v in sorted(counts.items()))
            set_condition(
                conditions,
                "NamespaceContentRemaining",
                "True",
                reason="SomeResourcesRemain",
                message=f"Some resources are remaining: {detail}",
            )
        else:
            set_condition(
                conditions,
                "NamespaceContentRemaining",
                "False",
                reason="ContentRemoved",
                message="All content successfully removed",
            )
        if finalizers:
            detail = ", ".join(f"{k} in {v} resource instances" for k, v in sorted(finalizers.items()))
            set_condition(
                conditions,
                "NamespaceFinalizersRemaining",
                "True",
                reason="SomeFinalizersRemain",
                message=f"Some content in the namespace has finalizers remaining: {detail}",
            )
        else:
            set_condition(
                conditions,
                "NamespaceFinalizersRemaining",
                "False",
                reason="ContentHasNoFinalizers",
                message="All content-preserving finalizers finished",
            )
        if new != ns:
            object_store.write_internal(NAMESPACES, new)
