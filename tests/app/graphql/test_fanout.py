"""Subscribers asking alike share one execution per event; those asking differently get their own answer."""

from __future__ import annotations

from typing import Any, cast

import aiohttp
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from storeplane.graphql.fanout import nested_variables
from tests.app.graphql.test_http_api import create
from tests.app.graphql.test_subscriptions import graphql_ws, subscribe, write_event
from tests.app.server_helpers import ALICE_TOKEN, BOB_TOKEN, RunningServer, receive

EVENTS = (
    "subscription($storeId: ID, $full: Boolean!) "
    "{ storeEvents(storeId: $storeId) { id storeId reason message @include(if: $full) } }"
)


def variables_of(document: str) -> frozenset[str] | None:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = [d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)]
    return nested_variables(operation, fragments)


def test_only_variables_below_the_root_field_change_how_a_payload_renders() -> None:
    assert variables_of(EVENTS) == frozenset({"full"})
    assert variables_of("subscription($id: ID) { storeChanged(storeId: $id) { id } }") == frozenset()
    fragment = "fragment F on Store { name @skip(if: $terse) }"
    assert variables_of(
        f"subscription($id: ID, $terse: Boolean!) {{ storeChanged(storeId: $id) {{ ...F }} }} {fragment}"
    ) == frozenset({"terse"})
    directive = "subscription($on: Boolean!) { storeChanged @include(if: $on) { id } }"
    assert variables_of(directive) == frozenset({"on"})
    spread = "subscription($id: ID) { ...R } fragment R on Subscription { storeChanged(storeId: $id) { id } }"
    assert variables_of(spread) is None  # a root fragment: every variable counts, nothing is shared


async def next_data(ws: Any, field: str) -> dict[str, Any]:
    message = await receive(ws)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    return cast(dict[str, Any], message["payload"]["data"][field])


async def test_alike_and_different_subscribers_each_get_their_own_selection(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    shop = (await create(server, http, "shop"))["store"]["id"]
    other = (await create(server, http, "other"))["store"]["id"]
    bobs = (await create(server, http, "bobshop", token=BOB_TOKEN))["store"]["id"]
    alice = {"token": ALICE_TOKEN}
    async with (
        graphql_ws(server, alice) as full_1,
        graphql_ws(server, alice) as full_2,
        graphql_ws(server, alice) as terse,
        graphql_ws(server, alice) as all_stores,
        graphql_ws(server, {"token": BOB_TOKEN}) as bob,
    ):
        for ws, variables in (
            (full_1, {"storeId": shop, "full": True}),
            (full_2, {"storeId": shop, "full": True}),
            (terse, {"storeId": shop, "full": False}),
            (all_stores, {"full": True}),
            (bob, {"full": True}),
        ):
            await subscribe(ws, EVENTS, variables)
        # Each replays its stores' "Created" first.
        for ws in (full_1, full_2, terse):
            assert (await next_data(ws, "storeEvents"))["reason"] == "Created"
        assert {(await next_data(all_stores, "storeEvents"))["storeId"] for _ in range(2)} == {shop, other}
        assert (await next_data(bob, "storeEvents"))["storeId"] == bobs

        for n in range(3):
            written = await write_event(server, shop, f"shop {n}")
            await write_event(server, bobs, f"bob {n}")
            expected = {"id": str(written.id), "storeId": shop, "reason": "Progress", "message": f"shop {n}"}
            assert await next_data(full_1, "storeEvents") == expected
            assert await next_data(full_2, "storeEvents") == expected
            assert await next_data(all_stores, "storeEvents") == expected
            assert await next_data(terse, "storeEvents") == {
                k: v for k, v in expected.items() if k != "message"
            }
            bob_event = await next_data(bob, "storeEvents")
            assert (bob_event["storeId"], bob_event["message"]) == (bobs, f"bob {n}")


async def test_store_changes_render_each_published_snapshot(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    query = "subscription { storeChanged { id name status } }"
    async with (
        graphql_ws(server, {"token": ALICE_TOKEN}) as first,
        graphql_ws(server, {"token": ALICE_TOKEN}) as second,
    ):
        await subscribe(first, query, {})
        await subscribe(second, query, {})
        created = [(await create(server, http, name))["store"] for name in ("one", "two")]
        for ws in (first, second):
            seen = [await next_data(ws, "storeChanged") for _ in created]
            assert [(s["id"], s["name"]) for s in seen] == [(c["id"], c["name"]) for c in created]
