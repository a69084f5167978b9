"""Query root: thin resolvers that call the services and convert their results."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from storeplane.graphql.context import Info, caller_of, sessions_of
from storeplane.graphql.errors import ClientError
from storeplane.graphql.types.audit_entry import AuditEntry
from storeplane.graphql.types.connection import Connection
from storeplane.graphql.types.engine import Engine
from storeplane.graphql.types.enums import StoreStatus, mirror
from storeplane.graphql.types.session import Session
from storeplane.graphql.types.store import Store
from storeplane.graphql.types.store_event import StoreEvent
from storeplane.pagination import InvalidCursorError, decode_row_id
from storeplane.stores import records
from storeplane.stores.service import StoreNotFound


def selects(selections: Sequence[Selection], *path: str) -> bool:
    """Whether the query selects the field at `path` ("edges", "node", "lastEvent"), fragments included."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == path[0] and (len(path) == 1 or selects(selection.selections, *path[1:])):
                return True
        elif selects(selection.selections, *path):  # a fragment's fields are at the same level
            return True
    return False


def event_cursor(after: strawberry.ID | None) -> int | None:
    """An event id given as a cursor (`after`), checked (for the query and the subscription alike)."""
    if after is None:
        return None
    try:
        return decode_row_id(after)
    except InvalidCursorError as exc:
        raise ClientError("`after` is an event id, as returned in StoreEvent.id.", code="BAD_CURSOR") from exc


async def resolve_stores(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    status: StoreStatus | None = None,
    search: str | None = None,
) -> Connection[Store]:
    stores = info.context.services.stores
    try:
        page = await stores.list_stores(
            owner=caller_of(info).owner,
            first=first,
            after=after,
            status=None if status is None else mirror(status, records.StoreStatus),
            search=search,
        )
    except InvalidCursorError as exc:
        raise ClientError(str(exc), code="BAD_CURSOR") from exc
    # The newest event of every store of the page in one query, instead of one query per store.
    # (`stores` may appear more than once under one response key: GraphQL merges them into one field.)
    selected = [selection for field in info.selected_fields for selection in field.selections]
    if not selects(selected, "edges", "node", "lastEvent"):
        return Connection[Store].from_page(page, Store.from_record)
    newest = await stores.last_events(store_ids=[store.id for store in page.items])
    return Connection[Store].from_page(
        page, lambda store: Store.from_record(store, newest_event=newest.get(store.id))
    )


async def resolve_store(info: Info, id: strawberry.ID) -> Store | None:
    found = await info.context.services.stores.get_store(owner=caller_of(info).owner, id=id)
    return None if found is None else Store.from_record(found)


async def resolve_store_events(
    info: Info,
    store_id: strawberry.ID | None = None,
    after: strawberry.ID | None = None,
    first: int | None = None,
) -> Connection[StoreEvent]:
    result = await info.context.services.stores.list_events(
        owner=caller_of(info).owner, store_id=store_id, after=event_cursor(after), first=first
    )
    if isinstance(result, StoreNotFound):
        raise ClientError("No such store.", code="NOT_FOUND")
    return Connection[StoreEvent].from_page(result, StoreEvent.from_record)


def resolve_engines(info: Info) -> list[Engine]:
    catalog, features = info.context.services.catalog, info.context.services.tracker.features
    return [Engine.from_model(catalog.engines[key], features=features) for key in catalog.keys()]  # noqa: SIM118 - sorted keys


async def resolve_audit_log(
    info: Info, first: int | None = None, after: str | None = None
) -> Connection[AuditEntry]:
    try:
        page = await info.context.services.stores.list_audit(
            owner=caller_of(info).owner, first=first, after=after
        )
    except InvalidCursorError as exc:
        raise ClientError(str(exc), code="BAD_CURSOR") from exc
    return Connection[AuditEntry].from_page(page, AuditEntry.from_record)


async def resolve_my_sessions(info: Info) -> list[Session]:
    caller = caller_of(info)
    sessions = await sessions_of(info).of_owner(caller.owner)
    return [Session.from_record(session, current_id=caller.session_id) for session in sessions]


@strawberry.type
class Query:
    stores: Connection[Store] = strawberry.field(
        resolver=resolve_stores,
        description="The caller's stores, oldest first. Without `status`, Deleted stores are left out; "
        "`search` matches part of the name.",
    )
    store: Store | None = strawberry.field(
        resolver=resolve_store,
        description="One of the caller's stores; null when there is none with this id.",
    )
    store_events: Connection[StoreEvent] = strawberry.field(
        resolver=resolve_store_events,
        description="Events after the cursor `after` (an event id), oldest first: of one store, or of every "
        "store of the caller when `storeId` is omitted.",
    )
    engines: list[Engine] = strawberry.field(
        resolver=resolve_engines, description="Every engine a store can be built from."
    )
    audit_log: Connection[AuditEntry] = strawberry.field(
        resolver=resolve_audit_log, description="The caller's own audited calls, oldest first."
    )
    my_sessions: list[Session] = strawberry.field(
        resolver=resolve_my_sessions,
        description="The dashboard sessions signed in as the caller's owner, newest first (live ones only).",
    )
