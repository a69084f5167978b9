"""How much kubesim holds and how fast it pushes watch events, so benchmarks can tell its cost from ours.

Three measurements against one kubesim process (its own core, started through KubesimProcess):

1. creates: N namespaces of 15 objects each (a store's worth: workloads, config, network, quota),
   16 requests in flight; objects/s, p50/p99 create latency, and the time until every Deployment
   and StatefulSet is ready and every Job complete.
2. watch delivery: kubesim writes pod Events at a steady rate; the time from its write (the churn
   record's `at`) to the line arriving at each Events watch, with one watch open (the baseline) and
   with W watches open (a third on Events, the rest idle pod and ConfigMap watches); the ratio of p99s.
3. kubesim's RSS before and after loading.

The client speaks raw HTTP through aiohttp rather than kubernetes_asyncio: its model deserialisation
would put the client's cost into figures that are meant to be kubesim's (see bench/README.md).

Run from the repository root: `.venv/bin/python -m bench.kubesim_bench --quick`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.measure import CpuMeter, ms, percentile, rss_mb
from bench.store_objects import (
    LABEL_COMPONENT,
    LABEL_INSTANCE,
    LABEL_PART_OF,
    PART_OF,
    namespace_name,
    namespace_objects,
)
from kubesim.client import ControlClient
from kubesim.process import KubesimProcess

Obj = dict[str, Any]


@dataclass(frozen=True)
class Config:
    """Sizes of one run; `--quick` shrinks them."""

    namespaces: int = 1_000
    watches: int = 200
    rate: float = 20.0
    """Churn writes (pod Events) per second during each watch measurement."""
    seconds: float = 10.0
    """How long each watch measurement churns."""
    profile: str = "test"
    """kubesim's delay profile: `test` (pods ready in ~0.25 s) or `demo` (~8.5 s)."""
    concurrency: int = 16
    """Create requests in flight at once."""
    ready_timeout: float = 600.0
    """Seconds to wait for every workload to be ready before reporting the rest as not ready."""
    delivery_grace: float = 10.0
    """Seconds to wait after the churn ends for the last watch events to arrive."""


# -- the objects of one namespace ------------------------------------------------------------------

# -- figures -----------------------------------------------------------------------------------


@dataclass
class CreateResult:
    objects: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Delivery:
    """Watch delivery latencies of one measurement, in seconds."""

    watches: int
    receiving: int
    writes: int
    latencies: list[float]
    """From each write to its arrival at each Events watch."""
    first: list[float]
    """From each write to its arrival at the first Events watch to see it."""
    drops: int
    cpu: CpuMeter
    open_s: float
    """From the first watch request to kubesim counting them all open."""

    @property
    def expected(self) -> int:
        return self.writes * self.receiving

    def to_json(self) -> Obj:
        return {
            "p50": ms(percentile(self.latencies, 0.50)),
            "p99": ms(percentile(self.latencies, 0.99)),
            "max": ms(max(self.latencies, default=0.0)),
            "first_p50": ms(percentile(self.first, 0.50)),
            "first_p99": ms(percentile(self.first, 0.99)),
            "delivered": len(self.latencies),
            "expected": self.expected,
            "open_s": round(self.open_s, 3),
            "kubesim_cpu_pct": self.cpu.kubesim_pct,
            "client_cpu_pct": self.cpu.client_pct,
        }


# -- creating ----------------------------------------------------------------------------------


async def create_all(session: aiohttp.ClientSession, base: str, config: Config) -> CreateResult:
    """Create every namespace and its objects, `config.concurrency` requests in flight."""
    result = CreateResult()
    indexes: Iterator[int] = iter(range(config.namespaces))

    async def post(path: str, body: Obj) -> None:
        started = time.perf_counter()
        async with session.post(base + path, json=body) as response:
            text = await response.read()
            result.latencies.append(time.perf_counter() - started)
            if response.status == 201:
                result.objects += 1
                return
            result.errors += 1
            if len(result.first_errors) < 5:
                result.first_errors.append(f"POST {path}: {response.status} {text[:200]!r}")

    async def worker() -> None:
        # Each worker fills one namespace at a time: its objects need the namespace to exist first.
        for index in indexes:
            name = namespace_name(index)
            await post("/api/v1/namespaces", {"metadata": {"name": name, "labels": {LABEL_PART_OF: PART_OF}}})
            for path, body in namespace_objects(name):
                await post(path, body)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(config.concurrency)))
    result.seconds = time.perf_counter() - started
    return result


# -- watching ----------------------------------------------------------------------------------


@dataclass
class WatchStream:
    """One raw watch: a GET with watch=true, each line kept with the time its last byte arrived.

    Lines are only stamped and kept while the watch runs, and parsed afterwards (unless
    `keep_objects` asks for the objects at once): parsing as they come would make the client's
    event loop, not kubesim, the slowest part of delivering one write to many watches.
    """

    path: str
    params: dict[str, str]
    receives_churn: bool
    keep_objects: bool = False
    objects: dict[str, Obj] = field(default_factory=dict)
    _lines: list[tuple[float, bytes]] = field(default_factory=list)
    _parsed: int = 0
    _arrivals: dict[str, float] = field(default_factory=dict)

    async def run(self, session: aiohttp.ClientSession, base: str) -> None:
        params = {"watch": "true", "allowWatchBookmarks": "true", **self.params}
        async with session.get(base + self.path, params=params) as response:
            response.raise_for_status()
            pending = b""
            async for data in response.content.iter_any():
                arrived = time.time()
                *lines, pending = (pending + data).split(b"\n")
                if self.keep_objects:
                    for line in lines:
                        self._keep(json.loads(line))
                else:
                    self._lines.extend((arrived, line) for line in lines)

    def _keep(self, event: Obj) -> None:
        if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
            return
        meta = event["object"]["metadata"]
        key = f"{meta.get('namespace', '')}/{meta['name']}"
        if event["type"] == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = event["object"]

    def arrivals(self) -> dict[str, float]:
        """resourceVersion -> arrival time of every object event received so far."""
        for arrived, line in self._lines[self._parsed :]:
            event = json.loads(line)
            if event["type"] == "ERROR":
                log(f"watch {self.path} got ERROR {event['object']}")
            elif event["type"] != "BOOKMARK":
                self._arrivals.setdefault(event["object"]["metadata"]["resourceVersion"], arrived)
        self._parsed = len(self._lines)
        return self._arrivals


@dataclass
class Watches:
    """Watch streams running as named tasks; `close()` cancels and awaits them all."""

    session: aiohttp.ClientSession
    base: str
    streams: list[WatchStream]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def open(self) -> None:
        for number, stream in enumerate(self.streams):
            task = asyncio.create_task(stream.run(self.session, self.base), name=f"watch-{number}")
            self.tasks.append(task)

    def drops(self) -> int:
        return sum(1 for task in self.tasks if task.done() and not task.cancelled())

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        results = await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                print(f"watch failed: {result!r}", file=sys.stderr)


async def current_rv(session: aiohttp.ClientSession, base: str, path: str) -> str:
    """The list's resourceVersion, to watch from (list-then-watch, as informers do)."""
    async with session.get(base + path, params={"limit": "1"}) as response:
        response.raise_for_status()
        body = await response.json()
        return str(body["metadata"]["resourceVersion"])


def watch_mix(count: int, *, namespaces: int, rvs: dict[str, str]) -> list[WatchStream]:
    """`count` watches: a third on Events (each sees every churn write), the rest pods and ConfigMaps.

    The Events watches are cluster-wide with field selectors that all match the churn's pod Events;
    the pod watches select by label, half cluster-wide and half in one namespace; the ConfigMap
    watches select by label in one namespace. Those stay idle under churn and cost only filtering.
    """
    event_fields = ["", "involvedObject.kind=Pod", "type=Normal", "reason=KubesimChurn"]
    pod_labels = [
        f"{LABEL_COMPONENT}=web",
        f"{LABEL_COMPONENT} in (web,db),{LABEL_PART_OF}={PART_OF}",
        f"{LABEL_PART_OF}={PART_OF},{LABEL_COMPONENT}!=migrate",
    ]
    streams = []
    for number in range(count):
        slot, turn = number % 3, number // 3
        namespace = namespace_name(turn % max(1, namespaces))
        if slot == 0:
            params = {"resourceVersion": rvs["events"]}
            if event_fields[turn % len(event_fields)]:
                params["fieldSelector"] = event_fields[turn % len(event_fields)]
            streams.append(WatchStream("/api/v1/events", params, receives_churn=True))
        elif slot == 1:
            params = {"resourceVersion": rvs["pods"], "labelSelector": pod_labels[turn % len(pod_labels)]}
            path = "/api/v1/pods" if turn % 2 == 0 else f"/api/v1/namespaces/{namespace}/pods"
            streams.append(WatchStream(path, params, receives_churn=False))
        else:
            params = {"resourceVersion": rvs["configmaps"], "labelSelector": f"{LABEL_INSTANCE}={namespace}"}
            path = f"/api/v1/namespaces/{namespace}/configmaps"
            streams.append(WatchStream(path, params, receives_churn=False))
    return streams


async def until(probe: Callable[[], Awaitable[bool]], *, timeout: float, interval: float) -> bool:
    """Poll `probe` until it holds; False once `timeout` seconds have passed without it holding."""
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def wait_for_open_watches(control: ControlClient, count: int, *, timeout: float = 60.0) -> None:
    # A watch is registered just after the server sends its headers, so ask kubesim rather than guess.
    async def opened() -> bool:
        return int((await control.metrics())["openWatches"]) >= count

    if not await until(opened, timeout=timeout, interval=0.05):
        raise TimeoutError(f"fewer than {count} watches open after {timeout}s")


async def measure_delivery(
    session: aiohttp.ClientSession,
    control: ControlClient,
    *,
    base: str,
    pid: int,
    watches: int,
    config: Config,
) -> Delivery:
    """Open `watches` watches, churn pod Events, and time each write's arrival at each Events watch."""
    rvs = {
        "events": await current_rv(session, base, "/api/v1/events"),
        "pods": await current_rv(session, base, "/api/v1/pods"),
        "configmaps": await current_rv(session, base, "/api/v1/configmaps"),
    }
    streams = watch_mix(watches, namespaces=config.namespaces, rvs=rvs)
    group = Watches(session, base, streams)
    opening = time.perf_counter()
    group.open()
    try:
        await wait_for_open_watches(control, watches)
        open_s = time.perf_counter() - opening
        count = max(1, round(config.rate * config.seconds))
        cpu = CpuMeter(pid)
        cpu.start()
        await control.start_churn(rate=config.rate, count=count, mode="event")
        await asyncio.sleep(config.seconds)

        async def churned() -> bool:
            return not (await control.churn())["running"]

        await until(churned, timeout=config.seconds + 60, interval=0.1)
        cpu.stop()
        writes = (await control.churn())["writes"]
        receiving = [s for s in streams if s.receives_churn]

        async def delivered() -> bool:
            return all(w["resourceVersion"] in s.arrivals() for s in receiving for w in writes)

        await until(delivered, timeout=config.delivery_grace, interval=0.1)
        arrivals = [s.arrivals() for s in receiving]
        latencies = [
            seen[w["resourceVersion"]] - float(w["at"])
            for seen in arrivals
            for w in writes
            if w["resourceVersion"] in seen
        ]
        first = []
        for w in writes:
            seen = [a[w["resourceVersion"]] for a in arrivals if w["resourceVersion"] in a]
            if seen:
                first.append(min(seen) - float(w["at"]))
        return Delivery(
            watches=watches,
            receiving=len(receiving),
            writes=len(writes),
            latencies=latencies,
            first=first,
            drops=group.drops(),
            cpu=cpu,
            open_s=open_s,
        )
    finally:
        await group.close()


# -- readiness ---------------------------------------------------------------------------------


def workload_ready(obj: Obj) -> bool:
    """Deployments and StatefulSets with every replica ready at the current generation; Jobs complete."""
    status = obj.get("status") or {}
    if obj.get("kind") == "Job":
        return any(
            c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or []
        )
    replicas = int((obj.get("spec") or {}).get("replicas", 1))
    current = int(status.get("observedGeneration", 0)) >= int(obj["metadata"].get("generation", 1))
    return current and int(status.get("readyReplicas", 0)) >= replicas


def workload_watches() -> list[WatchStream]:
    selector = {"labelSelector": f"{LABEL_PART_OF}={PART_OF}"}
    paths = ("/apis/apps/v1/deployments", "/apis/apps/v1/statefulsets", "/apis/batch/v1/jobs")
    return [WatchStream(path, dict(selector), receives_churn=False, keep_objects=True) for path in paths]


def not_ready(streams: list[WatchStream], expected: int) -> int:
    """Workloads not (yet) ready, counting those not seen at all."""
    missing = sum(max(0, expected - len(s.objects)) for s in streams)
    return missing + sum(1 for s in streams for obj in s.objects.values() if not workload_ready(obj))


# -- the run -----------------------------------------------------------------------------------


async def measure(sim: KubesimProcess, config: Config) -> Obj:
    base = sim.url
    figures: Obj = {"rss_idle_mb": round(rss_mb(sim.pid), 1)}
    # No connection cap: every watch holds one connection for as long as it is open.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        ControlClient(base) as control,
    ):
        readiness = Watches(session, base, workload_watches())
        readiness.open()
        await wait_for_open_watches(control, len(readiness.streams))
        started = time.perf_counter()
        log(f"creating {config.namespaces} namespaces of {len(namespace_objects('x'))} objects")
        create_cpu = CpuMeter(sim.pid)
        create_cpu.start()
        created = await create_all(session, base, config)
        create_cpu.stop()
        log(f"created {created.objects} objects in {created.seconds:.1f}s ({created.errors} errors)")
        ready_s: float | None = None

        async def all_ready() -> bool:
            return not_ready(readiness.streams, config.namespaces) == 0

        if await until(all_ready, timeout=config.ready_timeout, interval=0.05):
            ready_s = time.perf_counter() - started
        waiting = not_ready(readiness.streams, config.namespaces)
        readiness_drops = readiness.drops()
        await readiness.close()
        log(f"workloads ready after {ready_s}s ({waiting} not ready)")
        metrics = await control.metrics()
        figures["objects"] = sum(metrics["objects"].values())
        figures["writes"] = metrics["resourceVersion"]
        figures["objects_by_kind"] = metrics["objects"]
        figures["rss_mb"] = round(rss_mb(sim.pid), 1)

        log("watch delivery with 1 watch (baseline)")
        baseline = await measure_delivery(session, control, base=base, pid=sim.pid, watches=1, config=config)
        log(f"watch delivery with {config.watches} watches")
        loaded = await measure_delivery(
            session, control, base=base, pid=sim.pid, watches=config.watches, config=config
        )
        figures["rss_watching_mb"] = round(rss_mb(sim.pid), 1)

    baseline_p99 = percentile(baseline.latencies, 0.99)
    loaded_p99 = percentile(loaded.latencies, 0.99)
    return {
        "benchmark": "kubesim",
        "profile": config.profile,
        "namespaces": config.namespaces,
        "objects_created": created.objects,
        "objects": figures["objects"],
        "store_writes": figures["writes"],
        "pods": int(figures["objects_by_kind"].get("pods./v1", 0)),
        "create_errors": created.errors,
        "create_seconds": round(created.seconds, 2),
        "creates_per_s": round(created.objects / created.seconds, 1) if created.seconds else 0.0,
        "create_p50_ms": round(percentile(created.latencies, 0.50) * 1000, 2),
        "create_p99_ms": round(percentile(created.latencies, 0.99) * 1000, 2),
        "create_kubesim_cpu_pct": create_cpu.kubesim_pct,
        "create_client_cpu_pct": create_cpu.client_pct,
        "ready_s": None if ready_s is None else round(ready_s, 2),
        "not_ready": waiting,
        "watches": config.watches,
        "events_watches": loaded.receiving,
        "rate": config.rate,
        "seconds": config.seconds,
        "latency_ms": {"baseline": baseline.to_json(), "loaded": loaded.to_json()},
        "p99_ratio": round(loaded_p99 / baseline_p99, 2) if baseline_p99 > 0 else None,
        "p99_diff_ms": ms(loaded_p99 - baseline_p99),
        "watch_drops": baseline.drops + loaded.drops + readiness_drops,
        "rss_idle_mb": figures["rss_idle_mb"],
        "rss_mb": figures["rss_mb"],
        "rss_watching_mb": figures["rss_watching_mb"],
        "first_errors": created.first_errors,
    }


def log(message: str) -> None:
    print(f"[kubesim_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def table(result: Obj) -> str:
    def latency(figures: Obj) -> str:
        return (
            f"p50 {figures['p50']} / p99 {figures['p99']} / max {figures['max']} ms, "
            f"first watch p50 {figures['first_p50']} / p99 {figures['first_p99']} ms "
            f"({figures['delivered']}/{figures['expected']} delivered)"
        )

    def cpu(figures: Obj) -> str:
        return f"{figures['kubesim_cpu_pct']}% / {figures['client_cpu_pct']}%"

    base, loaded = result["latency_ms"]["baseline"], result["latency_ms"]["loaded"]
    rows = [
        ("namespaces", f"{result['namespaces']}"),
        (
            "objects created / stored",
            f"{result['objects_created']} / {result['objects']} ({result['pods']} pods)",
        ),
        ("store writes (resourceVersion)", f"{result['store_writes']}"),
        ("create errors", f"{result['create_errors']}"),
        ("creates/s", f"{result['creates_per_s']}"),
        ("create p50 / p99", f"{result['create_p50_ms']} ms / {result['create_p99_ms']} ms"),
        (
            "CPU kubesim / client (creates)",
            f"{result['create_kubesim_cpu_pct']}% / {result['create_client_cpu_pct']}%",
        ),
        ("all workloads ready", f"{result['ready_s']} s ({result['not_ready']} not ready)"),
        ("watch latency, 1 watch", latency(base)),
        (f"watch latency, {result['watches']} watches", latency(loaded)),
        ("Events watches among them", f"{result['events_watches']}"),
        ("time to open 1 / all watches", f"{base['open_s']} s / {loaded['open_s']} s"),
        ("p99 loaded / 1 watch", f"{result['p99_ratio']}x, +{result['p99_diff_ms']} ms"),
        ("CPU kubesim / client (1 watch)", cpu(base)),
        (f"CPU kubesim / client ({result['watches']} watches)", cpu(loaded)),
        ("watch drops", f"{result['watch_drops']}"),
        (
            "kubesim RSS idle / loaded / watching",
            f"{result['rss_idle_mb']} / {result['rss_mb']} / {result['rss_watching_mb']} MiB",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kubesim_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="50 namespaces, 20 watches, 2 s of churn")
    parser.add_argument("--namespaces", type=int, help="namespaces to create (default 1000, quick 50)")
    parser.add_argument("--watches", type=int, help="watches open while loaded (default 200, quick 20)")
    parser.add_argument("--rate", type=float, help="churn writes per second (default 20)")
    parser.add_argument(
        "--seconds", type=float, help="seconds of churn per measurement (default 10, quick 2)"
    )
    parser.add_argument("--profile", choices=("test", "demo"), default="test", help="kubesim delay profile")
    parser.add_argument("--concurrency", type=int, help="create requests in flight (default 16)")
    args = parser.parse_args(argv)
    config = Config(namespaces=50, watches=20, seconds=2.0) if args.quick else Config()
    overrides = {
        "namespaces": args.namespaces,
        "watches": args.watches,
        "rate": args.rate,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
    }
    values = {key: value for key, value in overrides.items() if value is not None}
    return Config(**{**config.__dict__, **values, "profile": args.profile})


def main(argv: list[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kubesim-bench-") as workdir:
        sim = KubesimProcess(
            kubeconfig=Path(workdir) / "kubeconfig",
            profile=config.profile,
            log_path=Path(workdir) / "kubesim.log",
        )
        sim.start()
        try:
            result = asyncio.run(measure(sim, config))
        except BaseException:
            # The log goes with the temporary directory: show its end while it is still there.
            tail = (Path(workdir) / "kubesim.log").read_text(errors="replace")[-4000:]
            print(f"kubesim log (end):\n{tail}", file=sys.stderr)
            raise
        finally:
            sim.stop()
    result["duration_s"] = round(time.perf_counter() - started, 1)
    result["machine"] = {
        "nproc": len(os.sched_getaffinity(0)),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
    print(table(result))
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
