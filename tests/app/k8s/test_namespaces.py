"""Namespace calls against a kubesim process, every failure arriving as one of our own errors."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api, V1ConfigMap, V1ObjectMeta

from kubesim.client import ControlClient
from storeplane.k8s.client import KubeApi
from storeplane.k8s.errors import ClusterUnreachable, KubeApiError, is_transient
from storeplane.k8s.namespaces import create_namespace, delete_namespace, read_namespace
from tests.helpers import eventually

LABELS = {"storeplane.io/store-id": "s-1", "app.kubernetes.io/managed-by": "storeplane"}


async def test_a_created_namespace_reads_back_with_its_labels_and_a_second_create_finds_it(
    kube: KubeApi, namespace_name: str
) -> None:
    assert await create_namespace(kube, name=namespace_name, labels=LABELS)
    state = await read_namespace(kube, name=namespace_name)
    assert state is not None
    assert {key: state.labels.get(key) for key in LABELS} == LABELS
    assert state.phase == "Active"
    assert not await create_namespace(kube, name=namespace_name, labels={"other": "labels"})
    assert await read_namespace(kube, name=namespace_name) == state


async def test_a_missing_namespace_reads_as_none_and_deleting_it_is_harmless(
    kube: KubeApi, namespace_name: str
) -> None:
    assert await read_namespace(kube, name=namespace_name) is None
    await delete_namespace(kube, name=namespace_name)


async def test_a_deleted_namespace_held_by_a_finalizer_is_terminating_until_released(
    api: ApiClient, kube: KubeApi, namespace_name: str
) -> None:
    core = CoreV1Api(api)
    assert await create_namespace(kube, name=namespace_name, labels=LABELS)
    # A finalizer on an object inside keeps the namespace Terminating, as a stuck controller does.
    held = V1ConfigMap(metadata=V1ObjectMeta(name="held", finalizers=["example.com/hold"]))
    await core.create_namespaced_config_map(namespace_name, held)
    await delete_namespace(kube, name=namespace_name)

    async def phase() -> str | None:
        state = await read_namespace(kube, name=namespace_name)
        return None if state is None else state.phase

    assert await eventually(phase, timeout=10, what="the namespace Terminating") == "Terminating"
    # The namespace_name is still taken: a create answers 409, which reads as "already exists".
    assert not await create_namespace(kube, name=namespace_name, labels=LABELS)
    await delete_namespace(kube, name=namespace_name)  # a second request for the same deletion is harmless

    await core.patch_namespaced_config_map("held", namespace_name, {"metadata": {"finalizers": None}})

    async def gone() -> bool:
        return await read_namespace(kube, name=namespace_name) is None

    await eventually(gone, timeout=10, what="the namespace gone once released")


async def test_an_api_outage_is_a_transient_kube_api_error(
    kube: KubeApi, control: ControlClient, namespace_name: str
) -> None:
    await control.outage(5.0, code=503)
    try:
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: read_namespace(kube, name=namespace_name),
            lambda: create_namespace(kube, name=namespace_name, labels=LABELS),
            lambda: delete_namespace(kube, name=namespace_name),
        ]
        for call in calls:
            with pytest.raises(KubeApiError) as caught:
                await call()
            assert caught.value.status == 503
            assert is_transient(caught.value)
    finally:
        await control.clear_faults()


async def test_an_unreachable_api_server_is_cluster_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: every connection is refused.
    async with ApiClient(Configuration(host=f"http://127.0.0.1:{port}")) as client:
        with pytest.raises(ClusterUnreachable) as caught:
            await read_namespace(client, name="anything")
    assert caught.value.message.startswith("the Kubernetes API could not be reached: ")
    assert is_transient(caught.value)
