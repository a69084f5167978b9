"""Event latency and fan-out: from kubesim's write to a bare watch, to GraphQL subscribers, to a poller.

kubesim (its own process) writes Warning "BackOff" Events on a store's pods at a steady rate
(`/_kubesim/churn`); each write's time is the churn record's `at` (kubesim's `time.time()` after the
commit). It is timed on arrival at:

(a) a bare kubernetes_asyncio watch on those Events, decoded into models, in this process: the baseline,
    what any Kubernetes client pays at best on this machine;
(b) N GraphQL `storeEvents` subscribers of Storeplane (`storeplane serve`, its own process) over real
    websockets, in separate worker processes (bench.event_clients), at each N of `--subscribers`; the
    StoreEvent's own `time` (when Storeplane's observer made it) splits that into ingestion and fan-out;
(c) a client polling the `stores` query every 2 s, as tools without push do: a write is visible to it once
    the store's `lastEvent` is that write's StoreEvent or a newer one.

Run from the repository root: `.venv/bin/python -m bench.event_latency --quick`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api

from bench.event_clients import CHURN_SEQ, SubscriberProcess
from bench.kubesim_bench import until
from bench.measure import cpu_seconds, ms, percentile
from bench.stack import (
    GraphQL,
    StoreplaneProcess,
    create_store,
    kubesim_running,
    machine,
    run_benchmark,
    storeplane_running,
    workdir,
)
from kubesim.client import ControlClient
from kubesim.process import KubesimProcess

Obj = dict[str, Any]

# A kubelet's restart back-off: a Warning on a Pod, which Storeplane relays as a store owner would want.
EVENT_TYPE = "Warning"
EVENT_REASON = "BackOff"
FIELD_SELECTOR = f"type={EVENT_TYPE},reason={EVENT_REASON}"
TARGET_MS = 20.0
"""Subscriber p99 may exceed the baseline's p99 by this much at the largest step (1,000 subscribers)."""

STORES = """
query Stores { stores(first: 100) { edges { node { id namespace status failureReason lastEvent { id } } } } }
"""
# What a dashboard without push asks every 2 s: the store list with each store's state and newest event.
POLL = """
query Poll {
  stores(first: 50) {
    edges { node { id name status progress { done total } lastEvent { id time reason message } } }
  }
}
"""
EVENTS = """
query Events($after: ID) {
  storeEvents(after: $after, first: 100) {
    edges { node { id storeId message } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@dataclass(frozen=True)
class Config:
    """Sizes of one run; `--quick` shrinks them."""

    subscribers: tuple[int, ...] = (1, 100, 1_000)
    """Concurrent subscribers, one measurement each."""
    rate: float = 20.0
    """Churn writes (pod Events) per second."""
    seconds: float = 15.0
    """How long each measurement churns."""
    stores: int = 1
    """Stores created through the API; the churn writes on all their pods in turn."""
    client_processes: int = 1
    """Worker processes the subscribers are split across (each its own event loop)."""
    per_store: bool = False
    """Subscribe with `storeId` (the first store, which the churn then writes on alone), not to the owner."""
    poll_interval: float = 2.0
    """Seconds between two `stores` queries of the polling client."""
    probe: int = 3
    """Churn writes before each measurement, to know every subscription is live (not measured)."""
    queue_size: int | None = None
    """STOREPLANE_EVENT_SUBSCRIBER_QUEUE_SIZE for the server (None: its default, 256)."""
    connect_concurrency: int = 50
    """Websocket handshakes in flight per worker process."""
    delivery_grace: float = 60.0
    """Seconds to wait after the churn for the last arrivals before counting the rest as missing."""
    ready_timeout: float = 180.0
    """Seconds for the stores to be Ready."""


# -- small helpers -----------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[event_latency {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def spread(latencies: list[float]) -> Obj:
    return {
        "p50": ms(percentile(latencies, 0.50)),
        "p99": ms(percentile(latencies, 0.99)),
        "max": ms(max(latencies, default=0.0)),
    }


@dataclass
class CpuShares:
    """Share of one core each process used between start() and stop(), in percent."""

    pids: dict[str, list[int]]
    """Name -> the processes counted under it; "bench" (this process) is added."""
    shares: dict[str, float] = field(default_factory=dict)
    _wall: float = 0.0
    _used: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        used = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.pids.items()}
        return {**used, "bench": time.process_time()}

    def start(self) -> None:
        self._wall, self._used = time.perf_counter(), self._now()

    def stop(self) -> None:
        wall = time.perf_counter() - self._wall
        self.shares = {
            name: round(100 * (used - self._used[name]) / wall, 1) for name, used in self._now().items()
        }


# -- the stores --------------------------------------------------------------------------------


async def create_stores(gql: GraphQL, count: int, *, timeout: float) -> list[Obj]:
    """Create `count` stores through the API and wait until every one is Ready; their rows."""
    for number in range(count):
        await create_store(gql, f"latency{number}")
    stores: list[Obj] = []

    async def ready() -> bool:
        nonlocal stores
        stores = [edge["node"] for edge in (await gql.call(STORES))["stores"]["edges"]]
        failed = [s for s in stores if s["status"] == "FAILED"]
        if failed:
            raise RuntimeError(f"store failed: {failed[0]}")
        return len(stores) == count and all(s["status"] == "READY" for s in stores)

    if not await until(ready, timeout=timeout, interval=0.2):
        raise TimeoutError(f"stores not Ready after {timeout}s: {stores}")
    return stores


async def newest_event_id(gql: GraphQL) -> int:
    stores = [edge["node"] for edge in (await gql.call(STORES))["stores"]["edges"]]
    return max((int(s["lastEvent"]["id"]) for s in stores if s["lastEvent"]), default=0)


async def recorded_churn(gql: GraphQL, after: int) -> dict[int, tuple[int, str]]:
    """Churn seq -> (StoreEvent id, store id) of the churn events Storeplane recorded after `after`."""
    found: dict[int, tuple[int, str]] = {}
    cursor: str | None = str(after)
    while cursor is not None:
        page = (await gql.call(EVENTS, {"after": cursor}))["storeEvents"]
        for edge in page["edges"]:
            node = edge["node"]
            seq = CHURN_SEQ.search(node["message"])
            if seq:
                found.setdefault(int(seq.group(1)), (int(node["id"]), node["storeId"]))
        cursor = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    return found


# -- (a) the baseline watch ----------------------------------------------------------------------


@dataclass
class BaselineWatch:
    """A bare kubernetes_asyncio watch on the churn's Events; each arrival stamped once decoded."""

    api: ApiClient
    resource_version: str
    arrivals: dict[str, float] = field(default_factory=dict)

    async def run(self) -> None:
        core = CoreV1Api(self.api)
        # No timeout_seconds: kubernetes_asyncio then watches forever, resuming from the newest version.
        async with watch.Watch() as stream:
            async for event in stream.stream(
                core.list_event_for_all_namespaces,
                field_selector=FIELD_SELECTOR,
                resource_version=self.resource_version,
                allow_watch_bookmarks=True,
            ):
                arrived = time.time()
                if event["type"] != "BOOKMARK":
                    self.arrivals.setdefault(event["object"].metadata.resource_version, arrived)


async def list_version(api: ApiClient) -> str:
    listed = await CoreV1Api(api).list_event_for_all_namespaces(field_selector=FIELD_SELECTOR, limit=1)
    return str(listed.metadata.resource_version)


# -- (c) the polling client ----------------------------------------------------------------------


@dataclass(frozen=True)
class Poll:
    started: float
    arrived: float
    last_event: dict[str, int]
    """Store id -> id of its newest StoreEvent, as this poll saw it."""


@dataclass
class Poller:
    """Queries `stores` every `interval` seconds, on a fixed schedule, as a polling dashboard does."""

    gql: GraphQL
    interval: float
    polls: list[Poll] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def run(self) -> None:
        due = time.monotonic()
        while True:
            started = time.time()
            try:
                data = await self.gql.call(POLL)
            except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                self.errors.append(repr(exc)[:300])
            else:
                last = {
                    edge["node"]["id"]: int(edge["node"]["lastEvent"]["id"])
                    for edge in data["stores"]["edges"]
                    if edge["node"]["lastEvent"]
                }
                self.polls.append(Poll(started, time.time(), last))
            due += self.interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    def staleness(self, writes: list[Obj], recorded: dict[int, tuple[int, str]]) -> tuple[list[float], int]:
        """Per write, from kubesim's write to the first poll that reflects it; and the writes none did."""
        latencies, unseen = [], 0
        for write in writes:
            if write["seq"] not in recorded:
                unseen += 1
                continue
            event_id, store_id = recorded[write["seq"]]
            seen = next((p for p in self.polls if p.last_event.get(store_id, 0) >= event_id), None)
            if seen is None:
                unseen += 1
            else:
                latencies.append(seen.arrived - float(write["at"]))
        return latencies, unseen


# -- one measurement -----------------------------------------------------------------------------


@dataclass
class Bench:
    """What every measurement shares: the processes, the clients and the stores."""

    config: Config
    sim: KubesimProcess
    server: StoreplaneProcess
    control: ControlClient
    gql: GraphQL
    baseline: BaselineWatch
    poller: Poller
    stores: list[Obj]

    @property
    def churn_namespace(self) -> str | None:
        # One store, or subscribers of the first store only: its namespace, so that every subscriber gets
        # every write. Otherwise every pod of the cluster, which are the stores' alone.
        if len(self.stores) == 1 or self.config.per_store:
            return str(self.stores[0]["namespace"])
        return None

    async def churn(self, count: int) -> list[Obj]:
        """Churn `count` writes at the configured rate and return kubesim's records once it is done."""
        await self.control.start_churn(
            rate=self.config.rate,
            count=count,
            namespace=self.churn_namespace,
            event_type=EVENT_TYPE,
            reason=EVENT_REASON,
        )
        await asyncio.sleep(count / self.config.rate)

        async def churned() -> bool:
            return not (await self.control.churn())["running"]

        if not await until(churned, timeout=60.0, interval=0.05):
            raise TimeoutError("kubesim's churn did not finish")
        writes: list[Obj] = (await self.control.churn())["writes"]
        return writes

    def subscriber_processes(self, count: int, after: int) -> list[SubscriberProcess]:
        processes = max(1, min(self.config.client_processes, count))
        shares = [count // processes + (1 if n < count % processes else 0) for n in range(processes)]
        workers = [
            SubscriberProcess(
                url=self.server.ws_url,
                count=share,
                log_path=self.server.workdir / f"clients-{count}-{n}.log",
                store_id=str(self.stores[0]["id"]) if self.config.per_store else None,
                after=str(after),
                first_index=sum(shares[:n]),
                concurrency=self.config.connect_concurrency,
            )
            for n, share in enumerate(shares)
        ]
        return workers

    async def measure(self, count: int) -> Obj:
        """Open `count` subscribers, churn, and time each write at the watch, subscribers and poller."""
        workers = self.subscriber_processes(count, await newest_event_id(self.gql))
        try:
            opening = time.perf_counter()
            opened = await asyncio.gather(*(w.start(timeout=120.0 + count / 10) for w in workers))
            open_s = time.perf_counter() - opening
            live = sum(int(s["subscribers"]) for s in opened)
            connect_failed = sum(int(s["connect_failed"]) for s in opened)
            log(f"{live} subscribers open in {open_s:.1f}s ({connect_failed} failed)")

            async def statuses() -> list[Obj]:
                return list(await asyncio.gather(*(w.command("status") for w in workers)))

            async def all_received(count: int) -> bool:
                # Every live subscription has `count` events; one that ended is a drop, counted, not awaited.
                return all(s["min_events"] is None or int(s["min_events"]) >= count for s in await statuses())

            # Subscriptions start asynchronously on the server: a few writes first prove them all live.
            await self.churn(self.config.probe)
            if not await until(lambda: all_received(self.config.probe), timeout=60.0, interval=0.1):
                raise TimeoutError(f"some subscribers did not get the {self.config.probe} probe events")
            await asyncio.gather(*(w.command("take") for w in workers))
            cursor = await newest_event_id(self.gql)

            cpu = CpuShares(
                {
                    "server": [self.server.pid],
                    "kubesim": [self.sim.pid],
                    "clients": [w.pid for w in workers],
                }
            )
            cpu.start()
            server_cpu = cpu_seconds(self.server.pid)
            writes = await self.churn(max(1, round(self.config.rate * self.config.seconds)))
            cpu.stop()
            last_at = max(float(w["at"]) for w in writes)

            async def delivered() -> bool:
                watch_done = all(w["resourceVersion"] in self.baseline.arrivals for w in writes)
                polled = any(p.started > last_at for p in self.poller.polls)
                return watch_done and polled and await all_received(len(writes))

            if not await until(delivered, timeout=self.config.delivery_grace, interval=0.2):
                log("not everything arrived in time: the rest is counted as missing")
            # The server's work for this churn, its delivery tail included (it may lag behind the churn).
            server_cpu = cpu_seconds(self.server.pid) - server_cpu
            taken = await asyncio.gather(*(w.command("take") for w in workers))
        finally:
            await asyncio.gather(*(w.stop() for w in workers))
        recorded = await recorded_churn(self.gql, cursor)
        return self.figures(
            count=count,
            writes=writes,
            recorded=recorded,
            taken=taken,
            cpu=cpu,
            server_cpu=server_cpu,
            open_s=open_s,
            live=live,
            failed=connect_failed,
        )

    def figures(
        self,
        *,
        count: int,
        writes: list[Obj],
        recorded: dict[int, tuple[int, str]],
        taken: list[Obj],
        cpu: CpuShares,
        server_cpu: float,
        open_s: float,
        live: int,
        failed: int,
    ) -> Obj:
        at = {int(w["seq"]): float(w["at"]) for w in writes}
        baseline = [
            self.baseline.arrivals[w["resourceVersion"]] - float(w["at"])
            for w in writes
            if w["resourceVersion"] in self.baseline.arrivals
        ]
        subscribers: list[float] = []
        last: dict[int, float] = {}
        observed: dict[int, float] = {}
        seen: set[tuple[int, int]] = set()
        for answer in taken:
            for index, arrived, _event_id, seq, made in answer["arrivals"]:
                if seq is None or seq not in at or (index, seq) in seen:
                    continue
                seen.add((index, seq))
                subscribers.append(arrived - at[seq])
                last[seq] = max(last.get(seq, 0.0), arrived - at[seq])
                observed[seq] = made - at[seq]
        polled, unseen = self.poller.staleness(writes, recorded)
        ended = sum(int(a["ended"]) for a in taken)
        reasons = [r for a in taken for r in a["ended_reasons"]][:5]
        baseline_p99 = percentile(baseline, 0.99)
        subscriber_p99 = percentile(subscribers, 0.99)
        return {
            "subscribers": count,
            "open": live,
            "connect_failed": failed,
            "open_s": round(open_s, 2),
            "client_processes": len(taken),
            "writes": len(writes),
            "recorded": len(recorded),
            "baseline": {**spread(baseline), "delivered": len(baseline), "expected": len(writes)},
            "subscriber": {
                **spread(subscribers),
                "last_p99": ms(percentile(list(last.values()), 0.99)),
                "delivered": len(subscribers),
                "expected": len(writes) * live,
            },
            "observer": spread(list(observed.values())),
            "p99_diff_ms": ms(subscriber_p99 - baseline_p99),
            "p99_ratio": round(subscriber_p99 / baseline_p99, 2) if baseline_p99 > 0 else None,
            "poll": {**spread(polled), "reflected": len(polled), "unseen": unseen},
            "dropped": ended,
            "drop_reasons": reasons,
            "cpu_pct": cpu.shares,
            "server_cpu_s": round(server_cpu, 2),
            # Per write, then per message sent: what one more subscriber costs the server.
            "server_cpu_ms_per_write": round(1000 * server_cpu / max(1, len(writes)), 2),
            "server_cpu_us_per_message": round(1e6 * server_cpu / max(1, len(subscribers)), 1),
        }


# -- the run -----------------------------------------------------------------------------------


async def run(config: Config) -> Obj:
    started = time.perf_counter()
    settings = {} if config.queue_size is None else {"EVENT_SUBSCRIBER_QUEUE_SIZE": str(config.queue_size)}
    with workdir("event-latency-") as root:
        async with (
            kubesim_running(root, profile="test") as sim,
            storeplane_running(root, sim.kubeconfig, settings) as server,
            ControlClient(sim.url) as control,
            aiohttp.ClientSession() as http,
        ):
            gql = GraphQL(http, server.url)
            log(f"creating {config.stores} store(s) through the API")
            stores = await create_stores(gql, config.stores, timeout=config.ready_timeout)
            setup_s = time.perf_counter() - started
            log(f"{len(stores)} store(s) Ready {setup_s:.1f}s after start")

            kube = Configuration()
            await kube_config.load_kube_config(config_file=str(sim.kubeconfig), client_configuration=kube)
            async with ApiClient(kube) as api:
                baseline = BaselineWatch(api, await list_version(api))
                poller = Poller(gql, config.poll_interval)
                bench = Bench(
                    config=config,
                    sim=sim,
                    server=server,
                    control=control,
                    gql=gql,
                    baseline=baseline,
                    poller=poller,
                    stores=stores,
                )
                tasks = [
                    asyncio.create_task(baseline.run(), name="baseline-watch"),
                    asyncio.create_task(poller.run(), name="poller"),
                ]
                try:
                    steps = []
                    for count in config.subscribers:
                        log(f"measuring with {count} subscriber(s)")
                        step = await bench.measure(count)
                        log(
                            f"{count} subscribers: p99 {step['subscriber']['p99']} ms against "
                            f"{step['baseline']['p99']} ms for the watch; {step['dropped']} dropped"
                        )
                        steps.append(step)
                    for task in tasks:
                        if task.done():
                            # A baseline or poller that died would leave its figures silently short.
                            task.result()
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
    largest = steps[-1]
    return {
        "benchmark": "event_latency",
        "profile": "test",
        "stores": config.stores,
        "rate": config.rate,
        "seconds": config.seconds,
        "event": f"{EVENT_TYPE} {EVENT_REASON}",
        "subscription": "storeId" if config.per_store else "owner",
        "client_processes": config.client_processes,
        "server_queue_size": config.queue_size or 256,
        "poll_interval_s": config.poll_interval,
        "poll_errors": len(poller.errors),
        "setup_s": round(setup_s, 1),
        "steps": steps,
        "target": {
            "subscribers": largest["subscribers"],
            "p99_diff_ms": largest["p99_diff_ms"],
            "limit_ms": TARGET_MS,
            "met": largest["p99_diff_ms"] <= TARGET_MS
            and largest["dropped"] == 0
            and largest["subscriber"]["delivered"] == largest["subscriber"]["expected"],
        },
        "machine": machine(),
    }


def columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[n]) for row in rows) for n in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def table(result: Obj) -> str:
    def trio(figures: Obj) -> str:
        return f"{figures['p50']} / {figures['p99']} / {figures['max']}"

    latency: list[tuple[str, ...]] = [
        (
            "subscribers",
            "watch (baseline)",
            "StoreEvent made",
            "subscribers",
            "p99 diff",
            "poll staleness",
        )
    ]
    cost: list[tuple[str, ...]] = [
        (
            "subscribers",
            "delivered",
            "dropped",
            "opened in",
            "CPU server/kubesim/clients",
            "server CPU per write",
            "per message",
        )
    ]
    for step in result["steps"]:
        cpu = step["cpu_pct"]
        sub = step["subscriber"]
        name = f"{step['subscribers']} ({step['client_processes']} proc)"
        latency.append(
            (
                name,
                trio(step["baseline"]),
                trio(step["observer"]),
                trio(sub),
                f"+{step['p99_diff_ms']}",
                trio(step["poll"]),
            )
        )
        cost.append(
            (
                name,
                f"{sub['delivered']}/{sub['expected']}",
                f"{step['dropped']}",
                f"{step['open_s']} s",
                f"{cpu['server']}% / {cpu['kubesim']}% / {cpu['clients']}%",
                f"{step['server_cpu_ms_per_write']} ms",
                f"{step['server_cpu_us_per_message']} us",
            )
        )
    target = result["target"]
    verdict = "met" if target["met"] else "missed"
    lines = ["latency from kubesim's write, ms, p50 / p99 / max:", *columns(latency), ""]
    lines += ["delivery and cost:", *columns(cost), ""]
    lines.append(
        f"target at {target['subscribers']} subscribers: p99 <= watch p99 + {target['limit_ms']} ms, "
        f"no drop: {verdict} (+{target['p99_diff_ms']} ms)"
    )
    lines.append(
        f"{result['rate']} {result['event']} Events/s for {result['seconds']} s per step, {result['stores']} "
        f"store(s), subscription by {result['subscription']}, poll every {result['poll_interval_s']} s"
    )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.event_latency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="1, 10 and 100 subscribers, 5 s of churn each")
    parser.add_argument(
        "--subscribers", help="comma-separated subscriber counts (default 1,100,1000; quick 1,10,100)"
    )
    parser.add_argument("--rate", type=float, help="churn writes per second (default 20)")
    parser.add_argument("--seconds", type=float, help="seconds of churn per step (default 15, quick 5)")
    parser.add_argument("--stores", type=int, help="stores to create (default 1)")
    parser.add_argument(
        "--client-processes", type=int, help="worker processes for the subscribers (default 1)"
    )
    parser.add_argument("--per-store", action="store_true", help="subscribe to the store, not the owner")
    parser.add_argument("--poll-interval", type=float, help="seconds between polls (default 2)")
    parser.add_argument("--queue-size", type=int, help="the server's per-subscriber queue (default 256)")
    args = parser.parse_args(argv)
    config = Config(subscribers=(1, 10, 100), seconds=5.0) if args.quick else Config()
    overrides: Obj = {
        "subscribers": None
        if args.subscribers is None
        else tuple(int(n) for n in args.subscribers.split(",")),
        "rate": args.rate,
        "seconds": args.seconds,
        "stores": args.stores,
        "client_processes": args.client_processes,
        "poll_interval": args.poll_interval,
        "queue_size": args.queue_size,
        "per_store": args.per_store or None,
    }
    values = {key: value for key, value in overrides.items() if value is not None}
    return Config(**{**config.__dict__, **values})


def main(argv: list[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    run_benchmark(lambda: run(config), table)


if __name__ == "__main__":
    main()
