from __future__ import annotations

from datetime import datetime

import strawberry

from storeplane.events.records import EventRecord
from storeplane.graphql.types.enums import EventSource, EventType, mirror


@strawberry.type(description="One entry of a store's history. Its id is the cursor of `storeEvents`.")
class StoreEvent:
    id: strawberry.ID
    store_id: strawberry.ID
    time: datetime
    type: EventType
    reason: str = strawberry.field(description="CamelCase machine-readable reason, as in Kubernetes.")
    message: str
    source: EventSource
    involved_kind: str | None
    involved_name: str | None

    @classmethod
    def from_record(cls, event: EventRecord) -> StoreEvent:
        return cls(
            id=strawberry.ID(str(event.id)),
            store_id=strawberry.ID(event.store_id),
            time=event.time,
            type=mirror(event.type, EventType),
            reason=event.reason,
            message=event.message,
            source=mirror(event.source, EventSource),
            involved_kind=event.involved_kind,
            involved_name=event.involved_name,
        )
