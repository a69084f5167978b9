"""Subscription root: a replay from the database followed by live events from the bus, with no gap.

The order is what makes it gapless: subscribe to the bus first, then read the database, then take live
events, skipping those the replay already returned. The single event writer commits events in id order and
publishes each after its commit, so every event is either committed before the replay's read (and replayed),
or published after the subscription began (and queued for it), or both (and skipped once).

Each subscription runs as its own task in Strawberry's graphql-transport-ws handler, cancelled on `complete`
or disconnect; `aclosing` then unsubscribes from the bus whatever way the generator ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry

from storeplane.events.records import EventRecord
from storeplane.graphql.context import Info, caller_of
from storeplane.graphql.errors import ClientError
from storeplane.graphql.queries import event_cursor
from storeplane.graphql.types.store import Store
from storeplane.graphql.types.store_event import StoreEvent
from storeplane.stores.changes import StoreChanged
from storeplane.stores.service import StoreNotFound


def _dropped(reason: str, *, resume_after: int | None) -> ClientError:
    again = "subscribe again" if resume_after is None else f'subscribe again with after: "{resume_after}"'
    return ClientError(f"Subscription ended by the server ({reason}); {again}.", code="SUBSCRIPTION_DROPPED")


async def resolve_store_events(
    info: Info, store_id: strawberry.ID | None = None, after: strawberry.ID | None = None
) -> AsyncGenerator[StoreEvent, None]:
    owner = caller_of(info).owner
    services = info.context.services
    cursor = event_cursor(after) or 0

    def mine(event: EventRecord) -> bool:
        # Runs inside EventBus.publish: memory only. A foreign store_id is refused by the replay below.
        if store_id is not None:
            return event.store_id == store_id
        return services.owners.owner_of(event.store_id) == owner

    # 1. Subscribe first: from here on nothing published is missed.
    async with aclosing(services.events.subscribe(mine)) as live:
        # 2. Replay what is already committed, a page at a time.
        while True:
            page = await services.stores.list_events(
                owner=owner, store_id=store_id, after=cursor, first=services.stores.page_limits.maximum
            )
            if isinstance(page, StoreNotFound):
                raise ClientError("No such store.", code="NOT_FOUND")
            for event in page.items:
                yield StoreEvent.from_record(event)
                cursor = event.id
            if not page.has_next_page:
                break
        # A subscription lives for hours: the last replayed page (up to a page of events) must not.
        del page
        # 3. Then live events, minus those the replay returned.
        async for event in live:
            if event.id <= cursor:
                continue
            if live.pending:
                # A backlog goes out one event per turn of the event loop: sent in one go, it would hold the
                # loop while every other subscriber, the watches and the websockets' pings wait.
                await asyncio.sleep(0)
            yield StoreEvent.from_record(event)
            cursor = event.id
        if live.close_reason is not None:
            raise _dropped(live.close_reason, resume_after=cursor)


async def resolve_store_changed(
    info: Info, store_id: strawberry.ID | None = None
) -> AsyncGenerator[Store, None]:
    owner = caller_of(info).owner
    services = info.context.services
    # As for storeEvents: a foreign, unknown or malformed id is refused rather than followed in silence.
    if store_id is not None and await services.stores.get_store(owner=owner, id=store_id) is None:
        raise ClientError("No such store.", code="NOT_FOUND")

    def mine(change: StoreChanged) -> bool:
        return change.store.owner == owner and (store_id is None or change.store.id == store_id)

    async with aclosing(services.changes.subscribe(mine)) as changes:
        async for change in changes:
            yield Store.from_record(change.store)
        if changes.close_reason is not None:
            raise _dropped(changes.close_reason, resume_after=None)


@strawberry.type
class Subscription:
    store_events: AsyncGenerator[StoreEvent, None] = strawberry.subscription(
        resolver=resolve_store_events,
        description="Events after the cursor `after` (an event id): first those already recorded, then live "
        "ones as they happen. Omit `storeId` for every store of the caller. Resubscribe with the last id "
        "received to continue without a gap or a repeat.",
    )
    store_changed: AsyncGenerator[Store, None] = strawberry.subscription(
        resolver=resolve_store_changed,
        description="The caller's stores as they change: on create, on every status, progress or URL change, "
        "and on deletion (status Deleted). Give `storeId` to follow one store.",
    )
