"""The store state machine: which status may follow which, and the one function that moves a store.

Pending -> Provisioning | Failed | Deleting; Provisioning -> Ready | Failed | Deleting;
Ready -> Failed (drift) | Deleting; Failed -> Pending (retryStore, done by the store service) | Provisioning |
Deleting; Deleting -> Deleted; Deleted is terminal.

`transition` commits the new status first (a compare-and-set on the old one, so that a concurrent change by
the API or another task is never overwritten), then records an api StoreEvent, then publishes StoreChanged:
whatever the transition announces happens only after that, so a crash leaves the request in the row, where
the reconciler finds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from storeplane.events.models import EventSource, EventType
from storeplane.events.writer import EventWriter, StoreEventDraft
from storeplane.stores.changes import ChangeKind, StoreChanges, publish_store_changed
from storeplane.stores.models import Store, StoreStatus

S = StoreStatus
ALLOWED: Mapping[StoreStatus, frozenset[StoreStatus]] = {
    S.PENDING: frozenset({S.PROVISIONING, S.FAILED, S.DELETING}),
    S.PROVISIONING: frozenset({S.READY, S.FAILED, S.DELETING}),
    S.READY: frozenset({S.FAILED, S.DELETING}),
    S.FAILED: frozenset({S.PENDING, S.PROVISIONING, S.DELETING}),
    S.DELETING: frozenset({S.DELETED}),
    S.DELETED: frozenset(),
}

# The StoreEvent reason that announces each status.
_REASONS = {
    S.PENDING: "Pending",
    S.PROVISIONING: "Provisioning",
    S.READY: "Ready",
    S.FAILED: "Failed",
    S.DELETING: "Deleting",
    S.DELETED: "Deleted",
}


class IllegalTransition(Exception):
    """The state machine has no edge from the store's status to the requested one."""

    def __init__(self, store_id: str, current: StoreStatus, target: StoreStatus) -> None:
        super().__init__(f"store {store_id}: {current} -> {target} is not a valid transition")
        self.store_id = store_id
        self.current = current
        self.target = target


class TransitionConflict(IllegalTransition):
    """The row's status changed since it was read (the API or another task moved it first)."""


def check_transition(store_id: str, current: StoreStatus, target: StoreStatus) -> None:
    if target not in ALLOWED[current]:
        raise IllegalTransition(store_id, current, target)


async def transition(
    store: Store,
    to: StoreStatus,
    *,
    reason: str,
    writer: EventWriter,
    changes: StoreChanges | None = None,
    urls: tuple[str, str] | None = None,
) -> Store:
    """Move `store` (as read) to `to`, persist it, record `reason` as an api event; updates `store` in place.

    For Failed, `reason` becomes the store's failure_reason. Raises IllegalTransition for an edge the machine
    lacks and TransitionConflict when the row is no longer in `store.status`.
    """
    check_transition(store.id, store.status, to)
    now = datetime.now(UTC)
    values: dict[str, object] = {"status": to, "updated_at": now}
    if to == S.FAILED:
        values["failure_reason"] = reason
    elif to in (S.PENDING, S.PROVISIONING):
        values["failure_reason"] = None
        values["ready_at"] = None
    elif to == S.READY:
        values["failure_reason"] = None
        values["ready_at"] = now
        if urls is not None:
            values["storefront_url"], values["admin_url"] = urls
    elif to == S.DELETED:
        values["deleted_at"] = now
    changed = await Store.filter(id=store.id, status=store.status).update(**values)
    if changed != 1:
        current = await Store.get_or_none(id=store.id)
        raise TransitionConflict(store.id, current.status if current else store.status, to)
    for field, value in values.items():
        setattr(store, field, value)
    await writer.write(
        StoreEventDraft(
            store_id=store.id,
            type=EventType.WARNING if to == S.FAILED else EventType.NORMAL,
            reason=_REASONS[to],
            message=reason,
            source=EventSource.API,
        )
    )
    if changes is not None:
        kind = ChangeKind.DELETED if to == S.DELETED else ChangeKind.UPDATED
        publish_store_changed(changes, store, kind)
    return store
