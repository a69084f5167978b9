"""StoreChanged: what `Subscription.storeChanged` pushes, published on its own bus after each commit.

Publishers (the store service and provisioning) publish after the change is committed, with
`publish_store_changed`, which hands subscribers a copy of the row: the publisher may keep changing its own
instance, and every subscriber still sees the store as it was committed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum

from storeplane.events.bus import EventBus
from storeplane.stores.models import Store


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # status, progress, URLs or failure reason
    DELETED = "deleted"  # the store reached status Deleted


@dataclass(frozen=True, kw_only=True)
class StoreChanged:
    store: Store
    kind: ChangeKind


StoreChanges = EventBus[StoreChanged]


def publish_store_changed(bus: StoreChanges, store: Store, kind: ChangeKind) -> StoreChanged:
    message = StoreChanged(store=copy.copy(store), kind=kind)
    bus.publish(message)
    return message
