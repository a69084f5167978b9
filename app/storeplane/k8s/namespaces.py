"""Namespaces through the API: read, create with labels, delete. Every error is mapped (`map_kube_errors`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from kubernetes_asyncio.client import CoreV1Api, V1Namespace, V1ObjectMeta

from storeplane.k8s.client import KubeApi
from storeplane.k8s.errors import KubeConflict, KubeNotFound, map_kube_errors


@dataclass(frozen=True)
class NamespaceState:
    """What Storeplane reads of a namespace."""

    labels: Mapping[str, str]
    phase: str | None
    """"Active" or "Terminating" (deleted, waiting for its contents and finalizers); None if not reported."""


async def read_namespace(api: KubeApi, *, name: str) -> NamespaceState | None:
    """The namespace's labels and phase; None when there is no such namespace."""
    try:
        with map_kube_errors():
            namespace = await CoreV1Api(api).read_namespace(name)
    except KubeNotFound:
        return None
    status = namespace.status
    return NamespaceState(
        labels=dict(namespace.metadata.labels or {}), phase=None if status is None else status.phase
    )


async def create_namespace(api: KubeApi, *, name: str, labels: Mapping[str, str]) -> bool:
    """Create it with these labels: True if created, False if one of that name exists (whoever's it is)."""
    body = V1Namespace(metadata=V1ObjectMeta(name=name, labels=dict(labels)))
    try:
        with map_kube_errors():
            await CoreV1Api(api).create_namespace(body)
    except KubeConflict:
        # 409 AlreadyExists, also while a namespace of that name is still Terminating.
        return False
    return True


async def delete_namespace(api: KubeApi, *, name: str) -> None:
    """Ask for its deletion (a namespace already gone is fine); it goes once its contents are deleted."""
    with contextlib.suppress(KubeNotFound), map_kube_errors():
        await CoreV1Api(api).delete_namespace(name)
