"""StoreChanged: what `Subscription.storeChanged` pushes, published on its own bus after each commit.

Published by the transition functions (stores/transitions.py) after each committed change, and by the observer
when a store's progress steps change. It carries a StoreRecord, which is frozen: every subscriber sees the
store as it was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from storeplane.events.bus import EventBus
from storeplane.stores.records import StoreRecord


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # status, progress, URLs or failure reason
    DELETED = "deleted"  # the store reached status Deleted


@dataclass(frozen=True, kw_only=True)
class StoreChanged:
    store: StoreRecord
    kind: ChangeKind


StoreChanges = EventBus[StoreChanged]
