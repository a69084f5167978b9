"""Scale of state: reads over 10,000 stores and 200,000 events, and the server's memory with idle subscribers.

1. Seeding: `storeplane serve` starts once on an empty data folder (creating and migrating its SQLite
   database), stops, and bench/state_seed.py bulk-inserts the stores and events with sqlite3.
2. Reads: `storeplane serve` runs again (its own process, against kubesim in another) and the client times
   GraphQL queries over HTTP, one at a time: the dashboard's `stores(first: 50)`, its next pages through
   cursors, a name search, a status filter, `storeEvents(storeId, first: 100)` of one store and its next
   pages. The baseline, measured in the same run and interleaved sample by sample: the same reads in raw
   SQL through sqlite3 on the same file (the statements an ideal ORM would send, owner filter and ordering
   included), checked to return the same rows. `{ __typename }` gives the floor of HTTP and GraphQL.
3. Memory: the server's RSS with no subscriber (the baseline), then with N idle subscribers (a separate
   client process, one websocket each: half `storeChanged`, half `storeEvents(storeId)` after its replay).

Run from the repository root: `.venv/bin/python -m bench.state --quick`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from bench.dashboard import dashboard_document
from bench.measure import cpu_seconds, ms, percentile, rss_mb
from bench.stack import (
    OWNER,
    REPO,
    GraphQL,
    StoreplaneProcess,
    kubesim_running,
    run_benchmark,
    storeplane_running,
    workdir,
)
from bench.state_seed import Seeded, seed

Obj = dict[str, Any]
PAGE = 50
EVENTS_PAGE = 100
TARGET_FIRST_PAGE_P99_MS = 15.0
TARGET_RSS_MB = 200.0


@dataclass(frozen=True)
class Config:
    """Sizes of one run; `--quick` shrinks them."""

    stores: int = 10_000
    events: int = 200_000
    subscribers: int = 1_000
    samples: int = 500
    """Timed requests per read (and as many SQL baselines)."""
    pages: int = 10
    """Pages walked through cursors; the "next pages" reads cycle through pages 2 to this."""
    warmup: int = 20
    """Untimed requests per read first."""


# -- the reads ---------------------------------------------------------------------------------

# The dashboard's selections (web/src/graphql/operations.graphql), with the filters the list can apply.
STORES_QUERY = """
query Stores($first: Int, $after: String, $status: StoreStatus, $search: String) {
  stores(first: $first, after: $after, status: $status, search: $search) {
    edges { cursor node { ...StoreFields } }
    pageInfo { hasNextPage endCursor }
  }
}
""" + dashboard_document("StoreFields")
# A lean selection of the same page: the difference to the dashboard's is the cost of its 40 more fields.
LEAN_QUERY = """
query Stores($first: Int) {
  stores(first: $first) {
    edges { cursor node { id name status createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
EVENTS_QUERY = """
query Events($storeId: ID, $first: Int, $after: ID) {
  storeEvents(storeId: $storeId, first: $first, after: $after) {
    edges { cursor node { ...EventFields } }
    pageInfo { hasNextPage endCursor }
  }
}
""" + dashboard_document("EventFields")
FLOOR_QUERY = "{ __typename }"
STORE_CHANGED = dashboard_document("StoreChanged")
STORE_EVENTS = dashboard_document("StoreEvents")

# The baseline: what the ORM should ideally send. One statement per page of stores, the newest event of
# each store joined through the (store_id, id) index; the keyset condition for later pages.
_STORE_COLUMNS = (
    "id, name, engine, status, namespace, owner, storefront_url, admin_url, failure_reason, created_at, "
    "ready_at, deleted_at"
)
_EVENT_COLUMNS = "id, store_id, time, type, reason, message, source, involved_kind, involved_name"
_LAST_EVENT_COLUMNS = ", ".join(f"e.{c}" for c in _EVENT_COLUMNS.split(", "))
_CREATED_AT = _STORE_COLUMNS.split(", ").index("created_at")


def stores_sql(
    *, status: str | None, search: str | None, after: tuple[str, str] | None, lean: bool = False
) -> str:
    where = ["owner = ?", "status = ?" if status else "status <> 'Deleted'"]
    if search:
        # Store names are lowercase DNS labels, so SQLite's LIKE (ASCII case-insensitive) is icontains.
        where.append("name LIKE ? ESCAPE '\\'")
    if after:
        where.append("(created_at > ? OR (created_at = ? AND id > ?))")
    page = f"FROM store WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT {PAGE + 1}"
    if lean:
        return f"SELECT id, name, status, created_at {page}"
    return (
        f"SELECT s.*, {_LAST_EVENT_COLUMNS} FROM ("
        f"SELECT {_STORE_COLUMNS} {page}) AS s "
        "LEFT JOIN store_event AS e ON e.id = (SELECT max(id) FROM store_event WHERE store_id = s.id) "
        "ORDER BY s.created_at, s.id"
    )


def sql_stores(
    db: sqlite3.Connection,
    *,
    owner: str,
    status: str | None = None,
    search: str | None = None,
    after: tuple[str, str] | None = None,
    lean: bool = False,
) -> list[tuple[Any, ...]]:
    params: list[str] = [owner]
    if status:
        params.append(status)
    if search:
        params.append(f"%{search}%")
    if after:
        params += [after[0], after[0], after[1]]
    query = stores_sql(status=status, search=search, after=after, lean=lean)
    return db.execute(query, params).fetchall()


def sql_events(db: sqlite3.Connection, *, owner: str, store_id: str, after: int) -> list[tuple[Any, ...]]:
    # Two statements, as the API needs them: another owner's store must read as NOT_FOUND, not as empty.
    if db.execute("SELECT 1 FROM store WHERE id = ? AND owner = ?", (store_id, owner)).fetchone() is None:
        raise LookupError(store_id)
    return db.execute(
        f"SELECT {_EVENT_COLUMNS} FROM store_event WHERE store_id = ? AND id > ? ORDER BY id LIMIT ?",
        (store_id, after, EVENTS_PAGE + 1),
    ).fetchall()


@dataclass
class Read:
    """One read measured both ways; `variables` and `sql` are cycled together, sample by sample."""

    name: str
    query: str
    variables: list[Obj]
    sql: list[Callable[[], list[tuple[Any, ...]]]]
    graphql_s: list[float] = field(default_factory=list)
    sql_s: list[float] = field(default_factory=list)
    rows: int = 0
    server_cpu_s: float = 0.0
    """The server's CPU time over the timed samples: unlike latency, barely moved by other processes."""

    def to_json(self) -> Obj:
        graphql_p99, sql_p99 = percentile(self.graphql_s, 0.99), percentile(self.sql_s, 0.99)
        return {
            "graphql": _figures(self.graphql_s),
            "sql": _figures(self.sql_s),
            "p99_ratio": round(graphql_p99 / sql_p99, 1) if sql_p99 > 0 else None,
            "p99_diff_ms": ms(graphql_p99 - sql_p99),
            "server_cpu_ms": ms(self.server_cpu_s / len(self.graphql_s)) if self.graphql_s else None,
            "rows": self.rows,
            "variants": len(self.variables),
        }


def _figures(samples: list[float]) -> Obj:
    return {
        "p50": ms(percentile(samples, 0.50)),
        "p99": ms(percentile(samples, 0.99)),
        "max": ms(max(samples, default=0.0)),
    }


def _graphql_ids(data: Obj) -> list[str]:
    if "__typename" in data:
        return []
    connection = next(iter(data.values()))
    return [str(edge["node"]["id"]) for edge in connection["edges"]]


def _sql_ids(rows: list[tuple[Any, ...]], size: int) -> list[str]:
    return [str(row[0]) for row in rows[:size]]


async def _walk_stores(gql: GraphQL, pages: int) -> list[Obj]:
    """The `after` variables of pages 2..`pages` of the default list, read through the API's own cursors."""
    variables: list[Obj] = []
    after: str | None = None
    for _ in range(pages - 1):
        data = await gql.call(STORES_QUERY, {"first": PAGE, "after": after})
        info = data["stores"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = str(info["endCursor"])
        variables.append({"first": PAGE, "after": after})
    return variables


def build_reads(db: sqlite3.Connection, seeded: Seeded, store_pages: list[Obj], pages: int) -> list[Read]:
    owner, hot = OWNER, seeded.hot_store
    # The keyset of each page's last store, from SQL itself (the API's cursors are opaque).
    keys: list[tuple[str, str]] = []
    after: tuple[str, str] | None = None
    for _ in store_pages:
        rows = sql_stores(db, owner=owner, after=after)[:PAGE]
        after = (str(rows[-1][_CREATED_AT]), str(rows[-1][0]))
        keys.append(after)
    event_afters = [0]
    for _ in range(pages - 1):
        rows = sql_events(db, owner=owner, store_id=hot, after=event_afters[-1])
        if len(rows) <= EVENTS_PAGE:
            break
        event_afters.append(int(rows[EVENTS_PAGE - 1][0]))

    def stores(**kwargs: Any) -> Callable[[], list[tuple[Any, ...]]]:
        return lambda: sql_stores(db, owner=owner, **kwargs)

    def events(after: int) -> Callable[[], list[tuple[Any, ...]]]:
        return lambda: sql_events(db, owner=owner, store_id=hot, after=after)

    reads = [
        Read("floor", FLOOR_QUERY, [{}], [lambda: db.execute("SELECT 1").fetchall()]),
        Read("stores_first_page", STORES_QUERY, [{"first": PAGE}], [stores()]),
        Read("stores_first_page_lean", LEAN_QUERY, [{"first": PAGE}], [stores(lean=True)]),
        Read(
            "stores_search",
            STORES_QUERY,
            [{"first": PAGE, "search": seeded.search}],
            [stores(search=seeded.search)],
        ),
        Read(
            "stores_status",
            STORES_QUERY,
            [{"first": PAGE, "status": "DELETED"}],
            [stores(status="Deleted")],
        ),
        Read(
            "events_first_page",
            EVENTS_QUERY,
            [{"storeId": hot, "first": EVENTS_PAGE}],
            [events(0)],
        ),
    ]
    if store_pages:
        reads.insert(
            3, Read("stores_next_pages", STORES_QUERY, store_pages, [stores(after=key) for key in keys])
        )
    if len(event_afters) > 1:
        variables: list[Obj] = [
            {"storeId": hot, "first": EVENTS_PAGE, "after": str(after)} for after in event_afters[1:]
        ]
        reads.append(
            Read("events_next_pages", EVENTS_QUERY, variables, [events(after) for after in event_afters[1:]])
        )
    return reads


async def measure_read(gql: GraphQL, read: Read, *, samples: int, warmup: int, pid: int) -> None:
    """Check that both ways return the same rows, warm up, then time them alternately."""
    size = EVENTS_PAGE if read.query is EVENTS_QUERY else PAGE
    for variables, sql in zip(read.variables, read.sql, strict=True):
        got, want = _graphql_ids(await gql.call(read.query, variables)), _sql_ids(sql(), size)
        if read.query is not FLOOR_QUERY and got != want:
            raise RuntimeError(f"{read.name}: the API returned {got[:3]}... but the SQL {want[:3]}...")
        read.rows = max(read.rows, len(got))
    variants = len(read.variables)
    cpu_before = 0.0
    for number in range(warmup + samples):
        if number == warmup:
            cpu_before = cpu_seconds(pid)
        variables, sql = read.variables[number % variants], read.sql[number % variants]
        started = time.perf_counter()
        await gql.call(read.query, variables)
        middle = time.perf_counter()
        sql()
        ended = time.perf_counter()
        if number >= warmup:
            read.graphql_s.append(middle - started)
            read.sql_s.append(ended - middle)
    read.server_cpu_s = cpu_seconds(pid) - cpu_before


# -- memory and subscribers --------------------------------------------------------------------


async def settle(pid: int, *, quiet_pct: float = 3.0, window: float = 0.5, timeout: float = 60.0) -> float:
    """Wait until the process uses under `quiet_pct` of a core over `window`; return its last share."""
    deadline = time.monotonic() + timeout
    share = 100.0
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(window)
        share = 100 * (cpu_seconds(pid) - before) / window
        if share < quiet_pct:
            break
    return round(share, 1)


async def cpu_share(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return round(100 * (cpu_seconds(pid) - before) / seconds, 2)


@dataclass
class Clients:
    """bench/state_clients.py in its own process group, talking JSON lines over stdin/stdout."""

    proc: asyncio.subprocess.Process

    @classmethod
    async def start(cls, spec: Obj) -> Clients:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.state_clients",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            start_new_session=True,
        )
        clients = cls(proc)
        await clients.send(json.dumps(spec))
        return clients

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def receive(self, kind: str, timeout: float) -> Obj:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the subscriber process exited ({self.proc.returncode})")
                message: Obj = json.loads(line)
                if message.get("type") == kind:
                    return message

    async def stop(self) -> None:
        """Close stdin (the clients close their sockets and exit); kill the group if they linger."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            async with asyncio.timeout(20):
                await self.proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


def subscriptions(seeded: Seeded, count: int, url: str) -> Obj:
    """Half `storeChanged` for all the owner's stores (list view), half one store's events (detail view)."""
    targets = [s for s in seeded.owner_live if s != seeded.hot_store] or [seeded.hot_store]
    subs: list[Obj] = []
    for number in range(count):
        if number % 2 == 0:
            subs.append({"query": STORE_CHANGED, "expect": 0})
        else:
            store = targets[(number // 2) % len(targets)]
            subs.append(
                {"query": STORE_EVENTS, "variables": {"storeId": store}, "expect": seeded.events_of[store]}
            )
    return {"url": url, "subscriptions": subs, "concurrency": 50, "timeout": 300}


async def measure_subscribers(server: StoreplaneProcess, gql: GraphQL, seeded: Seeded, config: Config) -> Obj:
    figures: Obj = {}
    figures["cpu_idle_pct"] = await cpu_share(server.pid, 2.0)
    figures["rss_none_mb"] = round(rss_mb(server.pid), 1)
    log(f"RSS with no subscriber: {figures['rss_none_mb']} MiB; opening {config.subscribers} subscriptions")
    clients = await Clients.start(subscriptions(seeded, config.subscribers, server.ws_url))
    try:
        ready = await clients.receive("ready", timeout=600)
        ready.pop("type")
        log(f"subscribers ready: {json.dumps(ready)}")
        figures["subscribers"] = ready
        await settle(server.pid)
        figures["cpu_subscribed_pct"] = await cpu_share(server.pid, 2.0)
        figures["rss_subscribed_mb"] = round(rss_mb(server.pid), 1)
        # Proof that the subscriptions are live, after the figures: one change must reach every
        # storeChanged subscriber (they all follow the benchmark owner's stores).
        await clients.send("counts")
        before = (await clients.receive("counts", timeout=30))["received"]
        victim = next(s for s in seeded.owner_live if s != seeded.hot_store)
        await gql.call("mutation($id: ID!) { deleteStore(id: $id) { __typename } }", {"id": victim})
        watched = range(0, config.subscribers, 2)
        reached = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await clients.send("counts")
            after = (await clients.receive("counts", timeout=30))["received"]
            reached = sum(1 for n in watched if after[n] > before[n])
            if reached == len(watched):
                break
            await asyncio.sleep(0.2)
        figures["change_delivered"] = reached
        figures["change_expected"] = len(watched)
    finally:
        await clients.stop()
    return figures


# -- the run -----------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[state {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def measure(config: Config) -> Obj:
    result: Obj = {"benchmark": "state"}
    with workdir("state-bench-") as root:
        data = root / "data"
        settings = {"DATA_DIR": str(data)}
        database = data / "storeplane.sqlite3"
        async with kubesim_running(root) as sim:
            # A first start creates and migrates the database exactly as a user's first run does. Each start
            # gets a folder (and log) of its own: the harness reads the listening port from the log.
            (root / "migrate").mkdir()
            async with storeplane_running(root / "migrate", sim.kubeconfig, settings):
                pass
            log(f"seeding {config.stores} stores and {config.events} events")
            seeded = await asyncio.to_thread(
                seed, database, stores=config.stores, events=config.events, owner=OWNER
            )
            log(f"seeded in {seeded.seconds:.1f}s: {dict(seeded.statuses)}")
            result.update(
                stores=seeded.stores,
                events=seeded.events,
                statuses=dict(seeded.statuses),
                owner_stores=seeded.owner_stores,
                owner_live=len(seeded.owner_live),
                hot_store_events=seeded.events_of[seeded.hot_store],
                seed_s=round(seeded.seconds, 2),
                db_mb=round(database.stat().st_size / 2**20, 1),
                subscribers=config.subscribers,
                samples=config.samples,
            )
            (root / "serve").mkdir()
            started = time.perf_counter()
            async with storeplane_running(root / "serve", sim.kubeconfig, settings) as server:
                result["start_s"] = round(time.perf_counter() - started, 2)
                await settle(server.pid)
                result["rss_start_mb"] = round(rss_mb(server.pid), 1)
                async with aiohttp.ClientSession() as http:
                    gql = GraphQL(http, server.url)
                    result["reads"] = await measure_reads(gql, database, seeded, config, pid=server.pid)
                    await settle(server.pid)
                    result["memory"] = await measure_subscribers(server, gql, seeded, config)
    first = result["reads"]["stores_first_page"]["graphql"]["p99"]
    memory = result["memory"]
    result["rss_diff_mb"] = round(memory["rss_subscribed_mb"] - memory["rss_none_mb"], 1)
    result["rss_per_subscriber_kib"] = (
        round(1024 * result["rss_diff_mb"] / config.subscribers, 1) if config.subscribers else None
    )
    result["targets"] = {
        "first_page_p99_ms": TARGET_FIRST_PAGE_P99_MS,
        "first_page_met": first <= TARGET_FIRST_PAGE_P99_MS,
        "rss_mb": TARGET_RSS_MB,
        "rss_met": memory["rss_subscribed_mb"] <= TARGET_RSS_MB,
    }
    return result


async def measure_reads(gql: GraphQL, database: Path, seeded: Seeded, config: Config, *, pid: int) -> Obj:
    db = sqlite3.connect(database)
    try:
        db.execute("PRAGMA query_only = ON")
        store_pages = await _walk_stores(gql, config.pages)
        reads = build_reads(db, seeded, store_pages, config.pages)
        for read in reads:
            log(f"timing {read.name} ({config.samples} samples, {len(read.variables)} variants)")
            await measure_read(gql, read, samples=config.samples, warmup=config.warmup, pid=pid)
        return {read.name: read.to_json() for read in reads}
    finally:
        db.close()


def table(result: Obj) -> str:
    rows: list[tuple[str, str]] = [
        (
            "stores / events",
            f"{result['stores']} / {result['events']} "
            f"(database {result['db_mb']} MiB, seeded in {result['seed_s']} s)",
        ),
        ("statuses", ", ".join(f"{k} {v}" for k, v in sorted(result["statuses"].items()))),
        ("owner's stores (live)", f"{result['owner_stores']} ({result['owner_live']})"),
        ("events of the read store", f"{result['hot_store_events']}"),
        (
            "",
            f"GraphQL over HTTP vs raw SQL, p50 / p99 / max ms ({result['samples']} samples each); "
            "server CPU per request",
        ),
    ]
    for name, read in result["reads"].items():
        g, s = read["graphql"], read["sql"]
        rows.append(
            (
                f"{name} ({read['rows']} rows)",
                f"{g['p50']} / {g['p99']} / {g['max']} vs {s['p50']} / {s['p99']} / {s['max']}: "
                f"p99 {read['p99_ratio']}x, +{read['p99_diff_ms']} ms; {read['server_cpu_ms']} ms",
            )
        )
    memory = result["memory"]
    subs = memory["subscribers"]
    rows += [
        ("server start (ready)", f"{result['start_s']} s, RSS {result['rss_start_mb']} MiB"),
        (
            f"RSS none / {result['subscribers']} subscribers",
            f"{memory['rss_none_mb']} / {memory['rss_subscribed_mb']} MiB "
            f"(+{result['rss_diff_mb']} MiB, {result['rss_per_subscriber_kib']} KiB each)",
        ),
        (
            "subscribers open / replayed",
            f"{subs['opened']} in {subs['open_s']} s / {subs['received']} of {subs['expected']} events, "
            f"{subs['problems']} problems",
        ),
        (
            "server CPU idle, none / subscribed",
            f"{memory['cpu_idle_pct']}% / {memory['cpu_subscribed_pct']}%",
        ),
        ("a change reached storeChanged", f"{memory['change_delivered']} of {memory['change_expected']}"),
        (
            "targets",
            f"first page p99 <= {TARGET_FIRST_PAGE_P99_MS} ms: {result['targets']['first_page_met']}, "
            f"RSS <= {TARGET_RSS_MB} MB: {result['targets']['rss_met']}",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse_args(argv: Sequence[str]) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench.state", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1,000 stores, 20,000 events, 100 subscribers, 100 samples"
    )
    parser.add_argument("--stores", type=int, help="stores to seed (default 10000, quick 1000)")
    parser.add_argument("--events", type=int, help="events to seed (default 200000, quick 20000)")
    parser.add_argument("--subscribers", type=int, help="idle subscribers (default 1000, quick 100)")
    parser.add_argument("--samples", type=int, help="timed requests per read (default 500, quick 100)")
    parser.add_argument("--pages", type=int, help="pages walked by the next-page reads (default 10)")
    parser.add_argument("--warmup", type=int, help="untimed requests per read first (default 20)")
    args = parser.parse_args(argv)
    config = Config(stores=1_000, events=20_000, subscribers=100, samples=100) if args.quick else Config()
    overrides = {
        "stores": args.stores,
        "events": args.events,
        "subscribers": args.subscribers,
        "samples": args.samples,
        "pages": args.pages,
        "warmup": args.warmup,
    }
    config = replace(config, **{key: value for key, value in overrides.items() if value is not None})
    if config.stores < 2 or config.events < 1 or config.samples < 1 or config.pages < 1:
        parser.error("--stores must be at least 2, --events, --samples and --pages at least 1")
    return config


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    run_benchmark(lambda: measure(config), table)


if __name__ == "__main__":
    main()
