"""Forged cursors and malformed ids, over HTTP and websockets: typed errors or NotFound, never INTERNAL."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from storeplane.audit.models import AuditEntry
from tests.app.graphql.test_http_api import DELETE, create
from tests.app.graphql.test_subscriptions import EVENTS, graphql_ws, subscribe
from tests.app.server_helpers import ALICE_TOKEN, RunningServer, receive

BIGINT_MAX = 2**63 - 1


def crafted(content: Any) -> str:
    """A cursor encoded the way the API encodes its own, around content of the attacker's choosing."""
    return base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")


def crafted_raw(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Event ids given as `after` (query and subscription).
FORGED_EVENT_CURSORS = [
    "²",  # str.isdigit() says yes, int() says no
    "٣",  # an Arabic-Indic digit: a digit to Python, not to the database
    "1" * 30,  # overflows a 64-bit integer
    str(BIGINT_MAX + 1),
    "-1",
    " 1",
    "1e3",
    "",
    "x" * 10_000,
    "\x00",
    "\ud800",  # a lone surrogate: not encodable as UTF-8
]
# Opaque cursors of `stores` (["store", created_at, id]) and `auditLog` (["audit", id]).
FORGED_OPAQUE_CURSORS = [
    "nope",
    "²",
    "é" * 20,
    "\ud800",
    "A" * 100_000,
    crafted_raw(b"\xff\xfe\x00garbage"),  # not UTF-8 once decoded
    crafted_raw(b"[" * 150 + b"]" * 150),
    crafted("store"),
    crafted({"store": 1}),
    crafted([]),
    crafted(["store"]),
    crafted(["store", "2024-01-01T00:00:00+00:00"]),
    crafted(["store", "2024-01-01T00:00:00+00:00", "st-a", "extra"]),
    crafted(["store", "not a date", "st-abc"]),
    crafted(["store", 5, 6]),
    crafted(["store", "2024-01-01T00:00:00+00:00", 1]),
    crafted(["store", "2024-01-01T00:00:00+00:00", None]),
    crafted(["store", "2024-01-01T00:00:00", "st-abc"]),  # no time zone
    crafted(["store", "0001-01-01T00:00:00+23:59", "st-abc"]),  # before year 1 in UTC
    crafted(["store", "9999-12-31T23:59:59-23:59", "st-abc"]),  # after year 9999 in UTC
    crafted(["store", "2024-01-01T00:00:00+00:00", "st-\u00e9"]),
    crafted(["store", "2024-01-01T00:00:00+00:00", "st-\x00"]),
    crafted(["store", "2024-01-01T00:00:00+00:00", "\ud800"]),
    crafted(["store", "2024-01-01T00:00:00+00:00", "x" * 40]),
    crafted(["audit"]),
    crafted(["audit", "abc"]),
    crafted(["audit", "12"]),
    crafted(["audit", True]),
    crafted(["audit", 1.5]),
    crafted(["audit", -1]),
    crafted(["audit", 10**30]),
    crafted(["audit", BIGINT_MAX + 1]),
    crafted(["audit", 1, 2]),
    crafted(["events", 1]),
    crafted_raw(b'["audit", 1' + b"0" * 5000 + b"]"),  # more digits than int() accepts
]
# Store ids that no store can have.
MALFORMED_STORE_IDS = [
    "²",
    "1" * 30,
    "-1",
    "",
    "x" * 10_000,
    "st-\x00",
    "st-\ud800",
    "st-caf\u00e9",
    "st-missing",
]


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Fails the test if anything logs an error, or any record with a traceback, while it runs."""
    with caplog.at_level(logging.INFO):
        yield caplog
    # At teardown `caplog.records` holds only the teardown's records: the test's are the "call" phase's.
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    assert any(record.name == "uvicorn.access" for record in records), "the server's log was not captured"
    bad = [record for record in records if record.levelno >= logging.ERROR or record.exc_info is not None]
    assert not bad, [record.getMessage() for record in bad]


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert isinstance(error, dict)
    return error


async def test_forged_event_cursors_are_bad_cursor_errors_in_queries(
    server: RunningServer, http: aiohttp.ClientSession, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    store_id = (await create(server, http, "shop"))["store"]["id"]
    query = "query($s: ID, $a: ID) { storeEvents(storeId: $s, after: $a) { edges { cursor } } }"
    for cursor in FORGED_EVENT_CURSORS:
        for scope in (None, store_id):
            status, body = await server.graphql(http, query, {"s": scope, "a": cursor})
            assert status == 200, (cursor, body)
            assert only_error(body)["extensions"] == {"code": "BAD_CURSOR"}, (cursor, body)
    # Each is logged as one line, for the operator's information.
    answers = [record for record in no_tracebacks.records if record.name == "storeplane.graphql.errors"]
    assert len(answers) == 2 * len(FORGED_EVENT_CURSORS)
    assert {(record.levelno, record.getMessage().split(":")[0]) for record in answers} == {
        (logging.INFO, "client error BAD_CURSOR at storeEvents")
    }
    # An ID may come as a number too, in a variable or in the document.
    for status, body in (
        await server.graphql(http, query, {"s": None, "a": 10**30}),
        await server.graphql(
            http, "{ storeEvents(after: 111111111111111111111111111111) { edges { cursor } } }"
        ),
    ):
        assert status == 200, body
        assert only_error(body)["extensions"] == {"code": "BAD_CURSOR"}, body
    # The largest id the database can hold is a cursor like any other.
    _, body = await server.graphql(http, query, {"s": store_id, "a": str(BIGINT_MAX)})
    assert body == {"data": {"storeEvents": {"edges": []}}}


@pytest.mark.usefixtures("no_tracebacks")
async def test_forged_event_cursors_end_a_subscription_with_bad_cursor(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    store_id = (await create(server, http, "shop"))["store"]["id"]
    async with graphql_ws(server, {"token": ALICE_TOKEN}) as ws:
        for number, cursor in enumerate(FORGED_EVENT_CURSORS):
            for scope in (None, store_id):
                op = f"{number}-{scope is None}"
                await subscribe(ws, EVENTS, {"storeId": scope, "after": cursor}, op=op)
                message = await receive(ws)
                assert (message["id"], message["type"]) == (op, "next"), (cursor, message)
                assert only_error(message["payload"])["extensions"] == {"code": "BAD_CURSOR"}, cursor
                assert await receive(ws) == {"id": op, "type": "complete"}
        # The connection is still good for a valid subscription.
        await subscribe(ws, EVENTS, {"storeId": store_id, "after": "0"}, op="valid")
        message = await receive(ws)
        assert message["payload"]["data"]["storeEvents"]["reason"] == "Created"


@pytest.mark.usefixtures("no_tracebacks")
async def test_forged_cursors_of_stores_and_the_audit_log_are_bad_cursor_errors(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for name in ("shop-1", "shop-2"):
        await create(server, http, name)
    _, body = await server.graphql(
        http, "{ stores(first: 1) { pageInfo { endCursor } } auditLog(first: 1) { pageInfo { endCursor } } }"
    )
    genuine = {field: body["data"][field]["pageInfo"]["endCursor"] for field in ("stores", "auditLog")}
    for field in ("stores", "auditLog"):
        query = f"query($a: String) {{ {field}(after: $a) {{ edges {{ cursor }} }} }}"
        other = genuine["auditLog" if field == "stores" else "stores"]
        for cursor in [*FORGED_OPAQUE_CURSORS, *FORGED_EVENT_CURSORS, other]:
            status, body = await server.graphql(http, query, {"a": cursor})
            assert status == 200, (field, cursor, body)
            assert only_error(body)["extensions"] == {"code": "BAD_CURSOR"}, (field, cursor, body)
        # The cursors this API hands out still work.
        _, body = await server.graphql(http, query, {"a": genuine[field]})
        assert "errors" not in body, body
        assert len(body["data"][field]["edges"]) >= 1


@pytest.mark.usefixtures("no_tracebacks")
async def test_malformed_store_ids_are_unknown_stores_in_queries_and_mutations(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await create(server, http, "shop")
    for store_id in MALFORMED_STORE_IDS:
        _, body = await server.graphql(http, "query($id: ID!) { store(id: $id) { id } }", {"id": store_id})
        assert body == {"data": {"store": None}}, (store_id, body)
        _, body = await server.graphql(
            http, "query($id: ID) { storeEvents(storeId: $id) { edges { cursor } } }", {"id": store_id}
        )
        assert only_error(body)["extensions"] == {"code": "NOT_FOUND"}, (store_id, body)
        _, body = await server.graphql(http, DELETE, {"id": store_id})
        assert body["data"]["deleteStore"]["__typename"] == "NotFound", (store_id, body)
        _, body = await server.graphql(
            http, "mutation($id: ID!) { retryStore(id: $id) { __typename } }", {"id": store_id}
        )
        assert body["data"]["retryStore"] == {"__typename": "NotFound"}, (store_id, body)
    # Every attempt is audited as rejected, with a target that any database can store.
    rejected = await AuditEntry.filter(action__in=["deleteStore", "retryStore"]).order_by("id")
    assert len(rejected) == 2 * len(MALFORMED_STORE_IDS)
    assert {(entry.outcome, entry.detail) for entry in rejected} == {("rejected", "StoreNotFound")}
    assert all(entry.target.isprintable() and len(entry.target) <= 255 for entry in rejected)


@pytest.mark.usefixtures("no_tracebacks")
async def test_malformed_store_ids_end_subscriptions_with_not_found(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    store_id = (await create(server, http, "shop"))["store"]["id"]
    changed = "subscription($id: ID) { storeChanged(storeId: $id) { id status } }"
    async with graphql_ws(server, {"token": ALICE_TOKEN}) as ws:
        for number, bad_id in enumerate(MALFORMED_STORE_IDS):
            for kind, query in (("events", EVENTS), ("changed", changed)):
                op = f"{kind}-{number}"
                variables = {"storeId": bad_id} if kind == "events" else {"id": bad_id}
                await subscribe(ws, query, variables, op=op)
                message = await receive(ws)
                assert (message["id"], message["type"]) == (op, "next"), (bad_id, message)
                assert only_error(message["payload"])["extensions"] == {"code": "NOT_FOUND"}, bad_id
                assert await receive(ws) == {"id": op, "type": "complete"}
        # A store of the caller is still followed.
        await subscribe(ws, changed, {"id": store_id}, op="valid")
        await server.graphql(http, DELETE, {"id": store_id})
        message = await receive(ws)
        assert message["payload"]["data"]["storeChanged"] == {"id": store_id, "status": "DELETING"}
