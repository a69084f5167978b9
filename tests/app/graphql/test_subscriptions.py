from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from storeplane.events.kinds import EventSource, EventType
from storeplane.events.models import StoreEvent
from storeplane.events.records import EventRecord
from storeplane.events.writer import StoreEventDraft
from tests.app.graphql.test_http_api import create
from tests.app.server_helpers import ALICE_TOKEN, BOB_TOKEN, RunningServer, receive, send

PROTOCOL = "graphql-transport-ws"
EVENTS = (
    "subscription($storeId: ID, $after: ID) "
    "{ storeEvents(storeId: $storeId, after: $after) { id storeId reason } }"
)
CHANGES = "subscription { storeChanged { id name status } }"


@asynccontextmanager
async def graphql_ws(server: RunningServer, payload: dict[str, Any]) -> AsyncIterator[ClientConnection]:
    async with connect(server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "connection_init", "payload": payload})
        assert (await receive(ws))["type"] == "connection_ack"
        yield ws


async def subscribe(ws: ClientConnection, query: str, variables: dict[str, Any], op: str = "1") -> None:
    await send(ws, {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}})


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    message = await receive(ws)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["storeEvents"]
    return event


async def write_event(server: RunningServer, store_id: str, message: str) -> EventRecord:
    return await server.system.core.writer.write(
        StoreEventDraft(
            store_id=store_id,
            type=EventType.NORMAL,
            reason="Progress",
            message=message,
            source=EventSource.KUBERNETES,
        )
    )


async def test_replay_then_live_events_in_order(server: RunningServer, http: aiohttp.ClientSession) -> None:
    store_id = (await create(server, http, "shop"))["store"]["id"]
    earlier = [await write_event(server, store_id, f"before {n}") for n in range(3)]
    async with graphql_ws(server, {"Authorization": f"Bearer {ALICE_TOKEN}"}) as ws:
        await subscribe(ws, EVENTS, {"storeId": store_id})
        replayed = [await next_event(ws) for _ in range(4)]
        assert [event["reason"] for event in replayed] == ["Created", "Progress", "Progress", "Progress"]
        assert [int(event["id"]) for event in replayed[1:]] == [event.id for event in earlier]
        later = [await write_event(server, store_id, f"after {n}") for n in range(3)]
        live = [await next_event(ws) for _ in range(3)]
        assert [int(event["id"]) for event in live] == [event.id for event in later]
        # Resuming from a cursor replays only what came after it.
        await subscribe(ws, EVENTS, {"storeId": store_id, "after": str(later[0].id)}, op="2")
        assert [int((await next_event(ws))["id"]) for _ in range(2)] == [event.id for event in later[1:]]


async def test_reconnecting_with_the_last_cursor_misses_and_repeats_nothing_under_concurrent_writes(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    stores = [(await create(server, http, f"shop-{n}"))["store"]["id"] for n in range(3)]
    bobs = (await create(server, http, "bobs-shop", token=BOB_TOKEN))["store"]["id"]
    writers, per_writer = 6, 60
    done = asyncio.Event()

    async def write(n: int) -> None:
        for i in range(per_writer):
            await write_event(server, stores[(n + i) % len(stores)], f"w{n}-{i}")
            await write_event(server, bobs, f"bob w{n}-{i}")  # must never reach alice
            if i % 7 == 0:
                await asyncio.sleep(0.001)

    async def write_all() -> None:
        try:
            await asyncio.gather(*(write(n) for n in range(writers)))
        finally:
            done.set()

    rng = random.Random(4)
    received: list[dict[str, Any]] = []
    cursor: str | None = None
    connections = 0
    producer = asyncio.create_task(write_all())
    try:
        expected_total = len(stores) + writers * per_writer
        while len(received) < expected_total:
            connections += 1
            async with graphql_ws(server, {"token": ALICE_TOKEN}) as ws:
                await subscribe(ws, EVENTS, {"after": cursor})
                for _ in range(rng.randint(1, 40)):
                    if len(received) == expected_total:
                        break
                    event = await next_event(ws)
                    received.append(event)
                    cursor = event["id"]
                # Leaving the block drops the connection mid-stream, with events still in flight.
    finally:
        await producer
    assert done.is_set()
    assert connections > 3
    ids = [int(event["id"]) for event in received]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert ids == sorted(ids)
    expected = [event.id for event in await StoreEvent.filter(store_id__in=stores).order_by("id")]
    assert ids == expected, "an event was missed"
    assert {event["storeId"] for event in received} == set(stores)


async def test_store_changed_pushes_create_and_deletion_to_the_owner_only(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with (
        graphql_ws(server, {"Authorization": f"Bearer {ALICE_TOKEN}"}) as alice,
        graphql_ws(server, {"token": BOB_TOKEN}) as bob,
    ):
        await subscribe(alice, CHANGES, {})
        await subscribe(bob, CHANGES, {})
        await asyncio.sleep(0.2)  # let both subscriptions register before the changes happen
        store = (await create(server, http, "shop"))["store"]
        created = await receive(alice)
        assert created["payload"]["data"]["storeChanged"] == {
            "id": store["id"],
            "name": "shop",
            "status": "PENDING",
        }
        await server.graphql(
            http, "mutation($id: ID!) { deleteStore(id: $id) { __typename } }", {"id": store["id"]}
        )
        deleting = await receive(alice)
        assert deleting["payload"]["data"]["storeChanged"]["status"] == "DELETING"
        with pytest.raises(TimeoutError):
            await receive(bob, timeout=0.3)


async def test_a_websocket_without_a_valid_token_is_refused(server: RunningServer) -> None:
    for payload in ({}, {"token": "wrong-token-0123456789"}, {"Authorization": "Bearer nope"}):
        async with connect(server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
            await send(ws, {"type": "connection_init", "payload": payload})
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "Forbidden")


async def test_the_handshake_header_authenticates_a_websocket(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    store_id = (await create(server, http, "shop"))["store"]["id"]
    async with connect(
        server.ws_url,
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {ALICE_TOKEN}"},
    ) as ws:
        await send(ws, {"type": "connection_init", "payload": {}})
        assert (await receive(ws))["type"] == "connection_ack"
        await subscribe(ws, EVENTS, {"storeId": store_id})
        assert (await next_event(ws))["reason"] == "Created"


async def test_subscribing_to_another_owners_store_is_not_found(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    bobs = (await create(server, http, "bobs-shop", token=BOB_TOKEN))["store"]["id"]
    async with graphql_ws(server, {"token": ALICE_TOKEN}) as ws:
        await subscribe(ws, EVENTS, {"storeId": bobs})
        message = await receive(ws)
        assert message["type"] == "next"
        assert message["payload"]["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
        assert (await receive(ws))["type"] == "complete"
