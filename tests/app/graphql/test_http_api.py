from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
import pytest

from storeplane.audit.models import AuditEntry
from storeplane.web import DEFAULT_DIST
from tests.app.server_helpers import BOB_TOKEN, RunningServer

CREATE = """
mutation Create($name: String!, $engine: String!, $key: String) {
  createStore(input: {name: $name, engine: $engine, idempotencyKey: $key}) {
    __typename
    ... on CreateStoreSuccess { store { id name status namespace owner progress { done total } } }
    ... on Error { message }
    ... on ValidationError { field rule }
    ... on NameTaken { name }
    ... on QuotaExceeded { limit }
    ... on UnknownEngine { engine known }
  }
}
"""
DELETE = """
mutation Delete($id: ID!) {
  deleteStore(id: $id) {
    __typename
    ... on DeleteStoreSuccess { store { id status } }
    ... on InvalidState { status action message }
    ... on NotFound { id message }
  }
}
"""


async def create(
    server: RunningServer, http: aiohttp.ClientSession, name: str, *, token: str | None = None, **extra: Any
) -> dict[str, Any]:
    variables = {"name": name, "engine": "woocommerce", **extra}
    status, body = await (
        server.graphql(http, CREATE, variables)
        if token is None
        else server.graphql(http, CREATE, variables, token=token)
    )
    assert status == 200, body
    result: dict[str, Any] = body["data"]["createStore"]
    return result


async def test_a_request_without_a_valid_token_gets_401_and_no_details(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for token in (None, "wrong-token-0123456789"):
        status, body = await server.graphql(http, "{ engines { key } }", token=token)
        assert status == 401
        assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
        assert "Traceback" not in str(body)
    async with http.get(f"{server.url}/graphql", headers={"Accept": "text/html"}) as response:
        # GraphiQL's page needs no token; without a built web/dist it is the 503 saying how to build it.
        assert response.status == (200 if (DEFAULT_DIST / "graphiql.html").is_file() else 503)
        assert "graphiql" in (await response.text()).lower()


async def test_create_then_query_and_list_the_store(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    result = await create(server, http, "demo-shop")
    assert result["__typename"] == "CreateStoreSuccess"
    store = result["store"]
    assert (store["name"], store["status"], store["namespace"], store["owner"]) == (
        "demo-shop",
        "PENDING",
        "store-demo-shop",
        "alice",
    )
    assert store["progress"] == {"done": 0, "total": 6}
    assert server.provisioner.submitted == [store["id"]]

    status, body = await server.graphql(
        http,
        "query($id: ID!) { store(id: $id) { name lastEvent { reason source } } "
        "stores(first: 1) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } "
        "storeEvents(storeId: $id) { edges { node { id reason } } } engines { key displayName steps { id } } "
        "auditLog { edges { node { action target outcome clientAddress } } } }",
        {"id": store["id"]},
    )
    assert status == 200
    assert "errors" not in body, body
    data = body["data"]
    assert data["store"] == {"name": "demo-shop", "lastEvent": {"reason": "Created", "source": "API"}}
    assert [edge["node"]["id"] for edge in data["stores"]["edges"]] == [store["id"]]
    assert data["stores"]["pageInfo"]["hasNextPage"] is False
    assert [edge["node"]["reason"] for edge in data["storeEvents"]["edges"]] == ["Created"]
    assert data["engines"][0]["key"] == "woocommerce"
    assert data["engines"][0]["steps"][0] == {"id": "namespace"}
    assert data["auditLog"]["edges"][0]["node"] == {
        "action": "createStore",
        "target": store["id"],
        "outcome": "SUCCESS",
        "clientAddress": "127.0.0.1",
    }


async def test_mutations_return_typed_errors(server: RunningServer, http: aiohttp.ClientSession) -> None:
    invalid = await create(server, http, "Bad_Name")
    assert (invalid["__typename"], invalid["field"], invalid["rule"]) == (
        "ValidationError",
        "name",
        "lowercase",
    )
    unknown = await create(server, http, "shop", engine="magento")
    assert (unknown["__typename"], unknown["known"]) == ("UnknownEngine", ["woocommerce"])

    first = await create(server, http, "shop", key="k-1")
    repeat = await create(server, http, "shop", key="k-1")
    assert repeat["__typename"] == "CreateStoreSuccess"
    assert repeat["store"]["id"] == first["store"]["id"]
    taken = await create(server, http, "shop", token=BOB_TOKEN)
    assert (taken["__typename"], taken["name"]) == ("NameTaken", "shop")
    assert "taken" in taken["message"]

    store_id = first["store"]["id"]
    _, body = await server.graphql(http, DELETE, {"id": store_id}, token=BOB_TOKEN)
    assert body["data"]["deleteStore"]["__typename"] == "NotFound"
    _, body = await server.graphql(
        http, "query($id: ID!) { store(id: $id) { id } }", {"id": store_id}, token=BOB_TOKEN
    )
    assert body["data"]["store"] is None

    _, body = await server.graphql(http, DELETE, {"id": store_id})
    assert body["data"]["deleteStore"]["store"]["status"] == "DELETING"
    _, body = await server.graphql(http, DELETE, {"id": store_id})
    assert body["data"]["deleteStore"]["store"]["status"] == "DELETING"  # idempotent while Deleting
    assert server.provisioner.delete_requests == [store_id, store_id]  # asked again; a repeat is a no-op
    _, body = await server.graphql(
        http,
        "mutation($id: ID!) { retryStore(id: $id) { __typename ... on InvalidState { status action } } }",
        {"id": store_id},
    )
    assert body["data"]["retryStore"] == {
        "__typename": "InvalidState",
        "status": "DELETING",
        "action": "retry",
    }


async def test_queries_deeper_than_the_limit_are_refused(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    # Twice: the second answer comes from the validation cache and must refuse just the same.
    for _ in range(2):
        _, body = await server.graphql(http, "{ stores { edges { node { progress { steps { id } } } } } }")
        assert body.get("data") is None
        assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused(server: RunningServer, http: aiohttp.ClientSession) -> None:
    query = "{ " + " ".join(f"a{n}: engines {{ key }}" for n in range(16)) + " }"
    for _ in range(2):
        _, body = await server.graphql(http, query)
        assert body.get("data") is None
        assert "aliases" in body["errors"][0]["message"]


async def test_an_internal_error_is_masked_with_an_id_that_the_log_holds(
    server: RunningServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    server.provisioner.fail_with = RuntimeError("secret internals: /var/lib/db password=hunter2")
    with caplog.at_level(logging.ERROR, logger="storeplane.graphql.errors"):
        status, body = await server.graphql(http, CREATE, {"name": "shop", "engine": "woocommerce"})
    assert status == 200
    [error] = body["errors"]
    match = re.fullmatch(r"Internal error \(id ([0-9a-f]{12})\)", error["message"])
    assert match is not None, error
    assert error["extensions"] == {"code": "INTERNAL", "errorId": match.group(1)}
    assert "hunter2" not in str(body)
    assert "Traceback" not in str(body)
    [record] = [r for r in caplog.records if r.name == "storeplane.graphql.errors"]
    assert match.group(1) in record.getMessage()
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])
    entry = await AuditEntry.get(action="createStore")
    assert entry.outcome == "error"


async def test_bad_cursors_are_client_errors_not_internal_ones(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    _, body = await server.graphql(http, '{ stores(after: "nope") { edges { cursor } } }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_CURSOR"}
    _, body = await server.graphql(http, '{ storeEvents(storeId: "st-missing") { edges { cursor } } }')
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


async def test_a_page_of_stores_reads_the_newest_events_in_one_query(
    server: RunningServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [(await create(server, http, f"shop-{number}"))["store"]["id"] for number in range(3)]
    status, _ = await server.graphql(http, DELETE, {"id": ids[1]})
    assert status == 200
    # Through a fragment, as the dashboard asks: the field is found behind it.
    query = (
        "fragment F on Store { id lastEvent { reason } } { stores(first: 10) { edges { node { ...F } } } }"
    )
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        status, body = await server.graphql(http, query)
    assert status == 200, body
    newest = {
        edge["node"]["id"]: edge["node"]["lastEvent"]["reason"] for edge in body["data"]["stores"]["edges"]
    }
    assert newest == {ids[0]: "Created", ids[1]: "DeleteRequested", ids[2]: "Created"}
    reads = [record for record in caplog.records if 'FROM "store_event"' in record.getMessage()]
    assert len(reads) == 1, [record.getMessage() for record in reads]

    # Two selections of `stores` merged into one field, and a page that does not ask for lastEvent.
    merged = "{ stores { edges { node { id } } } stores { edges { node { lastEvent { reason } } } } }"
    for query, expected in ((merged, 1), ("{ stores { edges { node { id } } } }", 0)):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
            status, body = await server.graphql(http, query)
        assert status == 200, body
        reads = [record for record in caplog.records if 'FROM "store_event"' in record.getMessage()]
        assert len(reads) == expected, (query, [record.getMessage() for record in reads])
