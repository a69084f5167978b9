"""The store's namespace: created and labelled by the control plane (the chart never creates one)."""

from __future__ import annotations

from kubernetes_asyncio.client import ApiClient, ApiException, CoreV1Api, V1Namespace, V1ObjectMeta

from storeplane.labels import MANAGED_BY, MANAGED_BY_LABEL, STORE_ID_LABEL
from storeplane.provisioning.errors import ProvisioningFailed


async def namespace_owner(api: ApiClient, *, name: str) -> tuple[bool, str | None]:
    """(exists, the value of its store-id label)."""
    try:
        namespace = await CoreV1Api(api).read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return False, None
        raise
    labels = namespace.metadata.labels or {}
    return True, labels.get(STORE_ID_LABEL)


async def ensure_namespace(api: ApiClient, *, name: str, store_id: str) -> bool:
    """Create the namespace with our labels; True if created, False if it was already this store's.

    A namespace of that name without our store-id label is someone else's (or an orphan of another store):
    it is never adopted, and the store fails with a reason saying so.
    """
    labels = {STORE_ID_LABEL: store_id, MANAGED_BY_LABEL: MANAGED_BY}
    try:
        await CoreV1Api(api).create_namespace(V1Namespace(metadata=V1ObjectMeta(name=name, labels=labels)))
        return True
    except ApiException as exc:
        if exc.status != 409:
            raise
    exists, owner = await namespace_owner(api, name=name)
    if not exists:
        # Deleted between our create and read (a terminating namespace answers 409 then vanishes).
        raise ProvisioningFailed(f"Namespace {name} was being deleted; retry the store")
    if owner != store_id:
        raise ProvisioningFailed(
            f"Namespace {name} already exists and does not belong to this store "
            f"({STORE_ID_LABEL} is {owner or 'missing'}); Storeplane never adopts a namespace"
        )
    namespace = await CoreV1Api(api).read_namespace(name)
    if namespace.status is not None and namespace.status.phase == "Terminating":
        raise ProvisioningFailed(f"Namespace {name} is still being deleted; retry the store once it is gone")
    return False


async def delete_namespace(api: ApiClient, *, name: str) -> None:
    """Ask for deletion (404 ignored); the Namespace watch reports when it is gone."""
    try:
        await CoreV1Api(api).delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise
