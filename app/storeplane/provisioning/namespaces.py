"""The store's namespace: created and labelled by the control plane (the chart never creates one)."""

from __future__ import annotations

from storeplane.k8s import namespaces
from storeplane.k8s.client import KubeApi
from storeplane.labels import MANAGED_BY, MANAGED_BY_LABEL, STORE_ID_LABEL
from storeplane.provisioning.errors import ProvisioningFailed


async def namespace_owner(api: KubeApi, *, name: str) -> tuple[bool, str | None]:
    """(exists, the value of its store-id label)."""
    namespace = await namespaces.read_namespace(api, name=name)
    if namespace is None:
        return False, None
    return True, namespace.labels.get(STORE_ID_LABEL)


async def ensure_namespace(api: KubeApi, *, name: str, store_id: str) -> bool:
    """Create the namespace with our labels; True if created, False if it was already this store's.

    A namespace of that name without our store-id label is someone else's (or an orphan of another store):
    it is never adopted, and the store fails with a reason saying so.
    """
    labels = {STORE_ID_LABEL: store_id, MANAGED_BY_LABEL: MANAGED_BY}
    if await namespaces.create_namespace(api, name=name, labels=labels):
        return True
    namespace = await namespaces.read_namespace(api, name=name)
    if namespace is None:
        # Deleted between our create and read (a terminating namespace answers 409 then vanishes).
        raise ProvisioningFailed(f"Namespace {name} was being deleted; retry the store")
    owner = namespace.labels.get(STORE_ID_LABEL)
    if owner != store_id:
        raise ProvisioningFailed(
            f"Namespace {name} already exists and does not belong to this store "
            f"({STORE_ID_LABEL} is {owner or 'missing'}); Storeplane never adopts a namespace"
        )
    if namespace.phase == "Terminating":
        raise ProvisioningFailed(f"Namespace {name} is still being deleted; retry the store once it is gone")
    return False


async def delete_namespace(api: KubeApi, *, name: str) -> None:
    """Ask for deletion (404 ignored); the Namespace watch reports when it is gone."""
    await namespaces.delete_namespace(api, name=name)
