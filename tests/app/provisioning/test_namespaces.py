"""The store's namespace against a kubesim process: created with our labels, never adopted, deleted."""

from __future__ import annotations

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, V1ConfigMap, V1Namespace, V1ObjectMeta

from storeplane.k8s.client import KubeApi
from storeplane.labels import STORE_ID_LABEL
from storeplane.provisioning.errors import ProvisioningFailed
from storeplane.provisioning.namespaces import delete_namespace, ensure_namespace, namespace_owner
from tests.helpers import eventually


async def test_ensure_namespace_creates_it_with_our_labels_then_reuses_it(
    kube: KubeApi, namespace_name: str
) -> None:
    assert await ensure_namespace(kube, name=namespace_name, store_id="s-1")
    assert await namespace_owner(kube, name=namespace_name) == (True, "s-1")
    assert not await ensure_namespace(kube, name=namespace_name, store_id="s-1")


async def test_a_namespace_of_another_store_or_of_nobody_is_never_adopted(
    api: ApiClient, kube: KubeApi, namespace_name: str
) -> None:
    assert await ensure_namespace(kube, name=namespace_name, store_id="s-1")
    with pytest.raises(ProvisioningFailed) as other:
        await ensure_namespace(kube, name=namespace_name, store_id="s-2")
    assert other.value.reason == (
        f"Namespace {namespace_name} already exists and does not belong to this store "
        f"({STORE_ID_LABEL} is s-1); Storeplane never adopts a namespace"
    )
    unlabelled = f"{namespace_name}-x"
    await CoreV1Api(api).create_namespace(V1Namespace(metadata=V1ObjectMeta(name=unlabelled)))
    try:
        with pytest.raises(ProvisioningFailed, match=rf"\({STORE_ID_LABEL} is missing\)"):
            await ensure_namespace(kube, name=unlabelled, store_id="s-1")
        assert await namespace_owner(kube, name=unlabelled) == (True, None)
    finally:
        await CoreV1Api(api).delete_namespace(unlabelled)


async def test_our_namespace_still_terminating_fails_the_store_with_a_reason(
    api: ApiClient, kube: KubeApi, namespace_name: str
) -> None:
    core = CoreV1Api(api)
    assert await ensure_namespace(kube, name=namespace_name, store_id="s-1")
    held = V1ConfigMap(metadata=V1ObjectMeta(name="held", finalizers=["example.com/hold"]))
    await core.create_namespaced_config_map(namespace_name, held)
    await delete_namespace(kube, name=namespace_name)

    async def terminating() -> bool:
        return bool((await core.read_namespace(namespace_name)).status.phase == "Terminating")

    await eventually(terminating, timeout=10, what="the namespace Terminating")
    with pytest.raises(ProvisioningFailed) as caught:
        await ensure_namespace(kube, name=namespace_name, store_id="s-1")
    assert caught.value.reason == (
        f"Namespace {namespace_name} is still being deleted; retry the store once it is gone"
    )


async def test_a_missing_namespace_has_no_owner_and_deleting_it_is_harmless(
    kube: KubeApi, namespace_name: str
) -> None:
    assert await namespace_owner(kube, name=namespace_name) == (False, None)
    await delete_namespace(kube, name=namespace_name)
