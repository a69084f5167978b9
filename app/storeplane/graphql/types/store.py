from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from storeplane.events.records import EventRecord
from storeplane.graphql.context import Info
from storeplane.graphql.types.enums import StoreStatus, mirror
from storeplane.graphql.types.progress import StoreProgress
from storeplane.graphql.types.resource import KubernetesResource
from storeplane.graphql.types.store_event import StoreEvent
from storeplane.stores.progress import store_progress
from storeplane.stores.records import StoreRecord


def resolve_progress(root: Store, info: Info) -> StoreProgress:
    services = info.context.services
    return StoreProgress.from_model(
        store_progress(store=root.record, catalog=services.catalog, tracker=services.tracker)
    )


def resolve_resources(root: Store, info: Info) -> list[KubernetesResource]:
    resources = info.context.services.tracker.resources(root.record.id)
    return [KubernetesResource.from_model(resource) for resource in resources]


class NotLoaded(Enum):
    """Marks `Store.newest_event` as not fetched with the store: the resolver then queries it."""

    NOT_LOADED = "not loaded"


NOT_LOADED = NotLoaded.NOT_LOADED


async def resolve_last_event(root: Store, info: Info) -> StoreEvent | None:
    event = root.newest_event
    if event is NOT_LOADED:
        event = await info.context.services.stores.last_event(store_id=root.record.id)
    return None if event is None else StoreEvent.from_record(event)


@strawberry.type(description="A store: one engine installed in a namespace of its own.")
class Store:
    id: strawberry.ID
    name: str
    engine: str
    status: StoreStatus
    namespace: str
    owner: str
    storefront_url: str | None
    admin_url: str | None
    failure_reason: str | None
    created_at: datetime
    ready_at: datetime | None
    deleted_at: datetime | None
    progress: StoreProgress = strawberry.field(
        resolver=resolve_progress, description="Steps done of the engine's known steps."
    )
    resources: list[KubernetesResource] = strawberry.field(
        resolver=resolve_resources,
        description="The store's Kubernetes objects and their state, from the watches.",
    )
    last_event: StoreEvent | None = strawberry.field(
        resolver=resolve_last_event, description="The newest event of this store."
    )
    record: strawberry.Private[StoreRecord]
    newest_event: strawberry.Private[EventRecord | NotLoaded | None] = NOT_LOADED
    """Fetched for a whole page of stores in one query (queries.resolve_stores) rather than one per store."""

    @classmethod
    def from_record(
        cls, store: StoreRecord, *, newest_event: EventRecord | NotLoaded | None = NOT_LOADED
    ) -> Store:
        return cls(
            id=strawberry.ID(store.id),
            name=store.name,
            engine=store.engine,
            status=mirror(store.status, StoreStatus),
            namespace=store.namespace,
            owner=store.owner,
            storefront_url=store.storefront_url,
            admin_url=store.admin_url,
            failure_reason=store.failure_reason,
            created_at=store.created_at,
            ready_at=store.ready_at,
            deleted_at=store.deleted_at,
            record=store,
            newest_event=newest_event,
        )
