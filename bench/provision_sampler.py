"""Sends the dashboard's `stores(first: 50)` query at a steady rate from a process of its own.

Started by bench/provision.py so that the sampler's event loop shares nothing with the client creating the
stores. It prints `ready` once a first query has answered, samples until its stdin closes (the parent closes
it, or dies), then prints one JSON object: `{"samples": [[sent_at, seconds, ok], ...]}` with `sent_at` the
wall-clock `time.time()` of the send, so the parent can keep only the samples of a given window.

Queries go out on a fixed schedule whether or not the previous one has answered (open loop): a slow answer
cannot delay the next sample and hide its own slowness. Up to `--max-in-flight` wait at once; a query due
while that many wait is not sent and is reported as skipped (`"skipped": [due_at, ...]`), so that a server
slower than the rate is not buried under a growing pile of queries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from functools import partial

import aiohttp

from bench.dashboard import dashboard_document
from bench.stack import GraphQL

STORES_QUERY = dashboard_document("Stores")
"""The dashboard's store list (`Stores` with `StoreFields`), read from the dashboard's own operations."""
MINIMAL_QUERY = "query Stores($first: Int) { stores(first: $first) { edges { node { id status } } } }"
"""The same page with two columns: what is left is the wait for a busy server, not the query's own work."""
QUERIES = {"dashboard": STORES_QUERY, "minimal": MINIMAL_QUERY}

Sample = tuple[float, float, bool]


async def timed_query(graphql: GraphQL, query: str, first: int) -> Sample:
    sent_at, started = time.time(), time.perf_counter()
    try:
        await graphql.call(query, {"first": first})
        ok = True
    except Exception as exc:  # a failed sample is a figure, not a crash
        print(f"[provision_sampler] query failed: {exc!r}", file=sys.stderr, flush=True)
        ok = False
    return sent_at, time.perf_counter() - started, ok


def keep(samples: list[Sample], done: asyncio.Task[Sample]) -> None:
    if not done.cancelled():
        samples.append(done.result())


async def sample(
    url: str, *, query: str, rate: float, first: int, max_in_flight: int
) -> tuple[list[Sample], list[float]]:
    """The samples taken, and when each skipped one was due (wall clock)."""
    samples: list[Sample] = []
    skipped: list[float] = []
    async with aiohttp.ClientSession() as http:
        graphql = GraphQL(http, url)
        await graphql.call(query, {"first": first})  # connects, and proves the server answers
        print("ready", flush=True)
        # Blocks a thread until the parent closes our stdin (or exits: the pipe closes then too).
        closed = asyncio.create_task(asyncio.to_thread(sys.stdin.buffer.read), name="stdin-closed")
        pending: set[asyncio.Task[Sample]] = set()
        interval = 1.0 / rate
        due = time.monotonic()
        try:
            while not closed.done():
                if len(pending) >= max_in_flight:
                    skipped.append(time.time())
                else:
                    task = asyncio.create_task(timed_query(graphql, query, first), name="stores-query")
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    task.add_done_callback(partial(keep, samples))
                due += interval
                await asyncio.wait({closed}, timeout=max(0.0, due - time.monotonic()))
            if pending:
                await asyncio.wait(pending, timeout=30.0)
        finally:
            for task in [*pending, closed]:
                task.cancel()
    return samples, skipped


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.provision_sampler", description=__doc__)
    parser.add_argument("--url", required=True, help="Storeplane's base URL (http://127.0.0.1:PORT)")
    parser.add_argument("--rate", type=float, default=10.0, help="queries per second")
    parser.add_argument("--first", type=int, default=50, help="page size")
    parser.add_argument("--max-in-flight", type=int, default=10, help="queries waiting at once, at most")
    parser.add_argument(
        "--fields", choices=sorted(QUERIES), default="dashboard", help="what each store returns"
    )
    args = parser.parse_args()
    samples, skipped = asyncio.run(
        sample(
            args.url,
            query=QUERIES[args.fields],
            rate=args.rate,
            first=args.first,
            max_in_flight=args.max_in_flight,
        )
    )
    print(json.dumps({"samples": samples, "skipped": skipped}, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
