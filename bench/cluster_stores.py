"""Stores driven through Storeplane's GraphQL API for the cluster-load benchmark, and the helm call log.

`StoreTracker` follows every store of the benchmark's owner through one `storeChanged` subscription
(resubscribing and re-reading the stores if the server drops it), so waiting for 1,000 stores costs
Storeplane one websocket rather than a poll per store. `HelmShim` puts a two-line script in front of the
real helm that appends each call's arguments to a file, which is how helm calls are counted per store.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.stack import GraphQL, create_store, open_subscription

STORE_CHANGED = "subscription { storeChanged { id name status failureReason } }"
DELETE = """
mutation($id: ID!) {
  deleteStore(id: $id) {
    __typename
    ... on DeleteStoreSuccess { store { id status } }
    ... on Error { message }
  }
}
"""
STORES_PAGE = """
query($after: String) {
  stores(first: 100, after: $after) {
    edges { node { id status failureReason } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
STORE = "query($id: ID!) { store(id: $id) { id status failureReason } }"


def log(message: str) -> None:
    print(f"[cluster_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class StoreTracker:
    """The status of each store of the owner, kept current by a `storeChanged` subscription."""

    def __init__(self, gql: GraphQL, ws_url: str) -> None:
        self.gql = gql
        self.ws_url = ws_url
        self.status: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.resubscribed = 0
        # Replaced on every change: a waiter takes the current one before reading, so none misses a change.
        self._changed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._ws = await open_subscription(self.ws_url, STORE_CHANGED)
        self._task = asyncio.create_task(self._follow(), name="store-changes")
        # graphql-transport-ws acknowledges the connection, not the subscription: give the server a moment to
        # register it before the first create, and wait() re-reads the stores if a change is missed anyway.
        await asyncio.sleep(0.3)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    def _note(self, store: dict[str, Any]) -> None:
        self.status[store["id"]] = store["status"]
        if store.get("failureReason"):
            self.reasons[store["id"]] = store["failureReason"]
        self._changed.set()
        self._changed = asyncio.Event()

    async def _follow(self) -> None:
        while True:
            assert self._ws is not None
            try:
                async for raw in self._ws:
                    message = json.loads(raw)
                    kind = message.get("type")
                    store = ((message.get("payload") or {}).get("data") or {}).get("storeChanged")
                    if kind == "next" and store:
                        self._note(store)
                    elif kind == "ping":
                        await self._ws.send(json.dumps({"type": "pong"}))
                    elif kind in ("next", "error", "complete"):  # a `next` with errors: dropped as too slow
                        log(f"storeChanged ended: {str(message)[:300]}")
                        break
            except ConnectionClosed as exc:
                log(f"storeChanged websocket closed: {exc}")
            # Dropped (a full queue) or closed: follow again, then read what changed meanwhile.
            await self._ws.close()
            self._ws = await open_subscription(self.ws_url, STORE_CHANGED)
            self.resubscribed += 1
            await self.refresh(list(self.status))

    async def refresh(self, ids: Iterable[str]) -> None:
        """Read the statuses through queries (every live store, then each of `ids` not listed)."""
        seen: set[str] = set()
        after: str | None = None
        while True:
            page = (await self.gql.call(STORES_PAGE, {"after": after}))["stores"]
            for edge in page["edges"]:
                self._note(edge["node"])
                seen.add(edge["node"]["id"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        for store_id in set(ids) - seen:  # Deleted stores are left out of the list
            store = (await self.gql.call(STORE, {"id": store_id}))["store"]
            if store is not None:
                self._note(store)

    async def wait(self, ids: Iterable[str], want: str, *, timeout: float) -> bool:
        """Until each store is in `want` (or Failed, when waiting for Ready); False on timeout."""
        pending = set(ids)
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while True:
            changed = self._changed
            pending = {i for i in pending if not self._done(i, want)}
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                async with asyncio.timeout(min(left, 5.0)):
                    await changed.wait()
                quiet_since = time.monotonic()
            except TimeoutError:
                if time.monotonic() - quiet_since >= 5.0:
                    await self.refresh(pending)  # nothing for 5 s: make sure no change was missed
                    quiet_since = time.monotonic()

    def _done(self, store_id: str, want: str) -> bool:
        status = self.status.get(store_id)
        return status == want or (want == "READY" and status == "FAILED")

    def count(self, ids: Iterable[str], status: str) -> int:
        return sum(1 for store_id in ids if self.status.get(store_id) == status)

    def failures(self, ids: Iterable[str]) -> list[str]:
        return [f"{i}: {self.reasons.get(i, '')}" for i in ids if self.status.get(i) == "FAILED"]


async def create_stores(gql: GraphQL, names: list[str], *, in_flight: int) -> dict[str, str]:
    """createStore for each name, `in_flight` requests at once; name -> store id."""
    ids: dict[str, str] = {}
    queue = iter(names)

    async def worker() -> None:
        for name in queue:
            ids[name] = await create_store(gql, name)

    await asyncio.gather(*(worker() for _ in range(max(1, in_flight))))
    return ids


async def delete_store(gql: GraphQL, store_id: str) -> None:
    result = (await gql.call(DELETE, {"id": store_id}))["deleteStore"]
    if result["__typename"] != "DeleteStoreSuccess":
        raise RuntimeError(f"deleteStore {store_id}: {result}")


# -- helm calls ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HelmCall:
    command: str
    release: str


@dataclass
class HelmShim:
    """An executable that logs each helm call (tab-separated argv, one line) and execs the real helm."""

    workdir: Path
    real: str
    path: Path = field(init=False)
    calls_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.path = self.workdir / "helm-shim.sh"
        self.calls_file = self.workdir / "helm-calls.log"

    def install(self) -> None:
        # One printf of one short line per call: appends (O_APPEND) of under PIPE_BUF bytes are not
        # interleaved, so concurrent helms still log whole lines. exec keeps helm's pid and signals ours.
        self.path.write_text(
            f"#!/bin/sh\nIFS='\t'\nprintf '%s\\n' \"$*\" >> '{self.calls_file}'\nexec '{self.real}' \"$@\"\n"
        )
        self.path.chmod(0o755)
        self.calls_file.touch()

    def calls(self) -> list[HelmCall]:
        found = []
        for line in self.calls_file.read_text().splitlines():
            args = line.split("\t")
            command = next((a for a in args if not a.startswith("-")), "?")
            # Storeplane's builders put the release right after "--" (helm_args.py).
            after = args[args.index("--") + 1 :] if "--" in args else []
            found.append(HelmCall(command, after[0] if after else ""))
        return found


def by_release(calls: list[HelmCall], releases: Iterable[str]) -> dict[str, Counter[str]]:
    """Helm commands run for each of `releases` (store name = release name)."""
    wanted = {name: Counter[str]() for name in releases}
    for call in calls:
        if call.release in wanted:
            wanted[call.release][call.command] += 1
    return wanted
