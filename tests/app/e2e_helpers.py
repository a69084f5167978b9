"""A client of the control plane's real interfaces for the end-to-end tests: GraphQL over HTTP and websockets.

Nothing here reaches into the server: stores are created, read and deleted through GraphQL, and subscriptions
run over real websockets (graphql-transport-ws) with the bearer token in `connection_init`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from tests.helpers import eventually

PROTOCOL = "graphql-transport-ws"
# Seconds one HTTP request to the control plane may take.
REQUEST_TIMEOUT = 10.0
# Seconds to wait for the websocket handshake and connection_ack.
CONNECT_TIMEOUT = 10.0

STORE_FIELDS = """
id name status namespace owner storefrontUrl adminUrl failureReason readyAt deletedAt
progress { done total }
"""
EVENT_FIELDS = "id storeId type reason message source involvedKind involvedName"

CREATE = f"""
mutation Create($name: String!) {{
  createStore(input: {{name: $name, engine: "woocommerce"}}) {{
    __typename
    ... on CreateStoreSuccess {{ store {{ {STORE_FIELDS} }} }}
    ... on Error {{ message }}
  }}
}}
"""
DELETE = f"""
mutation Delete($id: ID!) {{
  deleteStore(id: $id) {{
    __typename
    ... on DeleteStoreSuccess {{ store {{ {STORE_FIELDS} }} }}
    ... on Error {{ message }}
  }}
}}
"""
RETRY = f"""
mutation Retry($id: ID!) {{
  retryStore(id: $id) {{
    __typename
    ... on RetryStoreSuccess {{ store {{ {STORE_FIELDS} }} }}
    ... on Error {{ message }}
  }}
}}
"""
STORE = f"query Store($id: ID!) {{ store(id: $id) {{ {STORE_FIELDS} }} }}"
EVENTS = f"""
query Events($storeId: ID, $after: ID) {{
  storeEvents(storeId: $storeId, after: $after, first: 100) {{
    edges {{ node {{ {EVENT_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
EVENTS_SUBSCRIPTION = (
    "subscription($storeId: ID, $after: ID) "
    f"{{ storeEvents(storeId: $storeId, after: $after) {{ {EVENT_FIELDS} }} }}"
)
CHANGES_SUBSCRIPTION = (
    f"subscription($storeId: ID) {{ storeChanged(storeId: $storeId) {{ {STORE_FIELDS} }} }}"
)


def unique_name(prefix: str) -> str:
    """A store name no other test (or earlier run against the same kubesim) uses."""
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def reasons(events: Sequence[dict[str, Any]]) -> list[str]:
    return [str(event["reason"]) for event in events]


def status_runs(stores: Sequence[dict[str, Any]]) -> list[str]:
    """The statuses a storeChanged stream went through; a run of repeats (progress pushes) counts once."""
    runs: list[str] = []
    for store in stores:
        if not runs or runs[-1] != store["status"]:
            runs.append(str(store["status"]))
    return runs


class Api:
    """GraphQL over HTTP as one caller (a bearer token)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http = http
        self.url = url
        self.token = token

    async def call(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            async with self.http.post(
                f"{self.url}/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self.token}"},
            ) as response:
                body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def create_store(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = (await self.call(CREATE, {"name": name}))["createStore"]
        assert result["__typename"] == "CreateStoreSuccess", result
        store: dict[str, Any] = result["store"]
        return store

    async def delete_store(self, store_id: str) -> dict[str, Any]:
        result: dict[str, Any] = (await self.call(DELETE, {"id": store_id}))["deleteStore"]
        assert result["__typename"] == "DeleteStoreSuccess", result
        store: dict[str, Any] = result["store"]
        return store

    async def retry_store(self, store_id: str) -> dict[str, Any]:
        result: dict[str, Any] = (await self.call(RETRY, {"id": store_id}))["retryStore"]
        assert result["__typename"] == "RetryStoreSuccess", result
        store: dict[str, Any] = result["store"]
        return store

    async def store(self, store_id: str) -> dict[str, Any]:
        store: dict[str, Any] | None = (await self.call(STORE, {"id": store_id}))["store"]
        assert store is not None, f"store {store_id} is not visible"
        return store

    async def events(self, store_id: str | None = None, *, after: str | None = None) -> list[dict[str, Any]]:
        """Every recorded event after the cursor, oldest first (all pages)."""
        found: list[dict[str, Any]] = []
        while True:
            page = (await self.call(EVENTS, {"storeId": store_id, "after": after}))["storeEvents"]
            found.extend(edge["node"] for edge in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    async def wait_for_status(self, store_id: str, *statuses: str, timeout: float) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            store = await self.store(store_id)
            return store if store["status"] in statuses else None

        return await eventually(
            probe, timeout=timeout, interval=0.1, what=f"store {store_id} to be {' or '.join(statuses)}"
        )

    async def wait_until_ready(self, *, timeout: float) -> None:
        """Until /readyz answers 200: the database is open and every watch has synced."""

        async def probe() -> bool:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    async with self.http.get(f"{self.url}/readyz") as response:
                        return response.status == 200
            except (aiohttp.ClientConnectionError, TimeoutError):
                return False

        await eventually(probe, timeout=timeout, interval=0.1, what=f"{self.url}/readyz to answer 200")


class Subscription:
    """One GraphQL subscription on a websocket of its own; a reader task collects what it pushes."""

    def __init__(self, ws: ClientConnection, field: str) -> None:
        self._ws = ws
        self._field = field
        self.items: list[dict[str, Any]] = []
        self.ended: str | None = None
        self._arrived = asyncio.Event()

    async def read(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                if message["type"] == "next":
                    assert "errors" not in message["payload"], message
                    self.items.append(message["payload"]["data"][self._field])
                    self._arrived.set()
                elif message["type"] in ("complete", "error"):
                    self.ended = json.dumps(message)
                    break
        finally:
            self.ended = self.ended or "websocket closed"
            self._arrived.set()

    async def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], *, timeout: float, what: str
    ) -> list[dict[str, Any]]:
        """Until `predicate(items)` holds; fails after `timeout` seconds or when the subscription ends."""
        deadline = time.monotonic() + timeout
        while not predicate(self.items):
            if self.ended is not None:
                raise AssertionError(f"the {self._field} subscription ended ({self.ended}) before {what}")
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; got {self.items}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return list(self.items)


@asynccontextmanager
async def subscription(
    ws_url: str, *, token: str, query: str, variables: dict[str, Any], field: str
) -> AsyncIterator[Subscription]:
    """Connect, authenticate in connection_init, subscribe; always stop the reader and close the socket."""
    async with asyncio.timeout(CONNECT_TIMEOUT):
        ws = await connect(ws_url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
            )
            ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )
        stream = Subscription(ws, field)
        reader = asyncio.create_task(stream.read(), name=f"subscription-{field}")
        try:
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await ws.close()
