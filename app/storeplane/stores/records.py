"""StoreRecord: a store as the rest of the system sees it, a frozen copy of its row.

The service returns records, the StoreChanged bus carries them and GraphQL types wrap them: nothing outside
the store package holds an ORM row, so nothing can change one behind the database's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storeplane.stores.models import Store, StoreStatus

# StoreStatus is re-exported for the GraphQL layer, which may not import ORM modules. It is a plain enum that
# belongs in a module of its own (stores/status.py), re-exported by models.py; until then, it comes from here.
__all__ = ["StoreRecord", "StoreStatus", "live_stores", "load_store"]


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreRecord:
    id: str
    name: str
    engine: str
    status: StoreStatus
    namespace: str
    helm_release: str
    owner: str
    storefront_url: str | None
    admin_url: str | None
    failure_reason: str | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, row: Store) -> StoreRecord:
        return cls(
            id=row.id,
            name=row.name,
            engine=row.engine,
            status=StoreStatus(row.status),
            namespace=row.namespace,
            helm_release=row.helm_release,
            owner=row.owner,
            storefront_url=row.storefront_url,
            admin_url=row.admin_url,
            failure_reason=row.failure_reason,
            idempotency_key=row.idempotency_key,
            created_at=row.created_at,
            updated_at=row.updated_at,
            ready_at=row.ready_at,
            deleted_at=row.deleted_at,
        )

    @property
    def live(self) -> bool:
        return self.status != StoreStatus.DELETED


async def load_store(store_id: str) -> StoreRecord | None:
    row = await Store.get_or_none(id=store_id)
    return None if row is None else StoreRecord.of(row)


async def live_stores() -> list[StoreRecord]:
    """Every store not Deleted, oldest first."""
    return [StoreRecord.of(row) for row in await Store.exclude(status=StoreStatus.DELETED)]
