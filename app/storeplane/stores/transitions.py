"""The store state machine, and the only code that writes a store's status.

Pending -> Provisioning | Failed | Deleting; Provisioning -> Ready | Failed | Deleting;
Ready -> Failed (drift) | Deleting; Failed -> Pending (retryStore) | Provisioning | Deleting;
Deleting -> Deleted; Deleted is terminal.

Every change goes the same way, in this order: a compare-and-set on the status (so a concurrent change by the
API or another task is never overwritten), then its StoreEvent through the single writer, then StoreChanged on
its bus. Whatever a change announces happens only after that, so a crash leaves the request in the row, where
the reconciler finds it. `insert_store_row` is the one other writer: it inserts a new store as Pending, and
`announce_created` then records and publishes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime

from storeplane.events.models import EventSource, EventType
from storeplane.events.writer import EventWriter, StoreEventDraft
from storeplane.stores.changes import ChangeKind, StoreChanged, StoreChanges
from storeplane.stores.models import Store, StoreStatus
from storeplane.stores.owners import StoreOwners
from storeplane.stores.records import StoreRecord

S = StoreStatus
ALLOWED: Mapping[StoreStatus, frozenset[StoreStatus]] = {
    S.PENDING: frozenset({S.PROVISIONING, S.FAILED, S.DELETING}),
    S.PROVISIONING: frozenset({S.READY, S.FAILED, S.DELETING}),
    S.READY: frozenset({S.FAILED, S.DELETING}),
    S.FAILED: frozenset({S.PENDING, S.PROVISIONING, S.DELETING}),
    S.DELETING: frozenset({S.DELETED}),
    S.DELETED: frozenset(),
}

# The StoreEvent reason that announces each status, unless the caller names the request instead
# (deleteStore's "DeleteRequested", retryStore's "RetryRequested": what clients have always seen).
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
    store: StoreRecord,
    to: StoreStatus,
    *,
    message: str,
    writer: EventWriter,
    changes: StoreChanges,
    reason: str | None = None,
    urls: tuple[str, str] | None = None,
) -> StoreRecord:
    """Move `store` (as read) to `to`: the row, then an api event (`reason`, `message`), then StoreChanged.

    For Failed, `message` becomes the failure reason. Returns the store as committed. Raises IllegalTransition
    for an edge the machine lacks and TransitionConflict (with the status found) when the row is no longer in
    `store.status`.
    """
    check_transition(store.id, store.status, to)
    now = datetime.now(UTC)
    values: dict[str, object] = {"status": to, "updated_at": now}
    if to == S.FAILED:
        values["failure_reason"] = message
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
    moved = dataclasses.replace(store, **values)  # type: ignore[arg-type]
    await _announce(
        moved,
        ChangeKind.DELETED if to == S.DELETED else ChangeKind.UPDATED,
        reason=reason or _REASONS[to],
        message=message,
        type=EventType.WARNING if to == S.FAILED else EventType.NORMAL,
        writer=writer,
        changes=changes,
    )
    return moved


async def insert_store_row(
    *, name: str, engine: str, namespace: str, owner: str, idempotency_key: str | None
) -> StoreRecord:
    """Insert a Pending store; `announce_created` must follow (the service holds its create lock between).

    Raises tortoise's IntegrityError when a live store holds the name or the key: the caller reports that.
    """
    row = await Store.create(
        name=name,
        engine=engine,
        status=StoreStatus.PENDING,
        namespace=namespace,
        helm_release=name,
        owner=owner,
        idempotency_key=idempotency_key,
    )
    return StoreRecord.of(row)


async def announce_created(
    store: StoreRecord, *, message: str, writer: EventWriter, changes: StoreChanges, owners: StoreOwners
) -> None:
    """The new store's `Created` event, then StoreChanged (created).

    The owner index learns the store first, so that the subscriptions' filters know whose event it is. Kept
    apart from the insert so that a create does not hold the create lock while its event is committed: in a
    burst of creates, each would wait for the previous one's commit (`bench/provision.py`).
    """
    owners.add(store_id=store.id, owner=store.owner)
    await _announce(
        store,
        ChangeKind.CREATED,
        reason="Created",
        message=message,
        type=EventType.NORMAL,
        writer=writer,
        changes=changes,
    )


async def _announce(
    store: StoreRecord,
    kind: ChangeKind,
    *,
    reason: str,
    message: str,
    type: EventType,
    writer: EventWriter,
    changes: StoreChanges,
) -> None:
    await writer.write(
        StoreEventDraft(store_id=store.id, type=type, reason=reason, message=message, source=EventSource.API)
    )
    changes.publish(StoreChanged(store=store, kind=kind))
