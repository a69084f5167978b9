"""EventRecord: a StoreEvent as the rest of the system sees it, a frozen copy of its committed row.

The writer returns it and publishes it on the events bus; every subscriber gets the same object, so it must
not change under them (a row could be modified or saved by anyone holding it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storeplane.events.kinds import EventSource, EventType
from storeplane.events.models import StoreEvent


@dataclass(frozen=True, kw_only=True, slots=True)
class EventRecord:
    id: int
    store_id: str
    time: datetime
    type: EventType
    reason: str
    message: str
    source: EventSource
    involved_kind: str | None
    involved_name: str | None

    @classmethod
    def of(cls, row: StoreEvent) -> EventRecord:
        return cls(
            id=row.id,
            store_id=row.store_id,
            time=row.time,
            type=EventType(row.type),
            reason=row.reason,
            message=row.message,
            source=EventSource(row.source),
            involved_kind=row.involved_kind,
            involved_name=row.involved_name,
        )
