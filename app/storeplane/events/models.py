"""StoreEvent: the append-only history of a store; its integer id is the subscription cursor."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.expressions import Subquery
from tortoise.functions import Max
from tortoise.models import Model

# Defined without the ORM so that the read model and the API can use them; re-exported for existing callers.
from storeplane.events.kinds import EventSource as EventSource
from storeplane.events.kinds import EventType as EventType

if TYPE_CHECKING:
    from storeplane.stores.models import Store


class StoreEvent(Model):
    """Inserted only by the EventWriter (events/writer.py), so that ids become visible in increasing order."""

    # AUTOINCREMENT on SQLite, BIGSERIAL on PostgreSQL: ids are never reused, even after the newest row goes.
    id = fields.BigIntField(primary_key=True)
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "storeplane.Store", related_name="events", on_delete=fields.CASCADE
    )
    time = fields.DatetimeField(description="When it happened (for Kubernetes events: their last timestamp)")
    type = fields.CharEnumField(EventType, max_length=16)
    reason = fields.CharField(
        max_length=128, description="CamelCase machine-readable reason, as in Kubernetes"
    )
    message = fields.TextField()
    source = fields.CharEnumField(EventSource, max_length=16)
    involved_kind = fields.CharField(max_length=64, null=True, description="Kind of the object it is about")
    involved_name = fields.CharField(max_length=253, null=True, description="Name of the object it is about")
    key = fields.CharField(
        max_length=32,
        null=True,
        unique=True,
        description="The writer's idempotency key: a batch retried after an unknown commit skips these rows",
    )

    store_id: str

    class Meta:
        table = "store_event"
        ordering = ["id"]
        # Replaying one store's events after a cursor: WHERE store_id = ? AND id > ? ORDER BY id.
        indexes = (("store_id", "id"),)

    def __str__(self) -> str:
        return f"#{self.id} {self.reason}: {self.message}"


async def newest_events(store_ids: Collection[str]) -> dict[str, StoreEvent]:
    """The newest event of each of these stores (those without any are absent), in one query.

    `WHERE id IN (SELECT max(id) ... GROUP BY store_id)`: the inner query reads only the (store_id, id) index.
    """
    if not store_ids:
        return {}
    newest = (
        StoreEvent.filter(store_id__in=list(store_ids))
        .group_by("store_id")
        .annotate(newest=Max("id"))
        .values("newest")
    )
    return {event.store_id: event for event in await StoreEvent.filter(id__in=Subquery(newest))}


async def completed_jobs_of_live_stores() -> list[tuple[str, str]]:
    """(store id, Job name) of every JobCompleted event of a store not Deleted, in one query.

    A store's history is where a finished Job stays known after its TTL deleted it and the server restarted.
    """
    from storeplane.stores.models import StoreStatus

    rows = await (
        StoreEvent.filter(reason="JobCompleted", involved_kind="Job")
        .exclude(store__status=StoreStatus.DELETED)
        .values_list("store_id", "involved_name")
    )
    return [(str(store_id), str(name)) for store_id, name in rows if name]
