"""Storeplane's load on the Kubernetes API: idle requests and open watches with N stores against a few.

One kubesim and one `storeplane serve` (separate processes); everything goes through the GraphQL API:

1. lifecycles: L stores each go create -> Ready -> delete -> Deleted; the helm calls per lifecycle come
   from a shim in front of helm (STOREPLANE_HELM_BINARY) that logs each call's argv, per release;
2. baseline: B stores Ready, then a quiet window of W seconds: the Kubernetes API requests Storeplane
   makes (kubesim counts them per verb, resource and user agent) and the watches open;
3. loaded: stores created until N are Ready (the requests per store created, as context), then the same
   window. Each request kind's count is set against the baseline's: what grows with N is per-store work.

Run from the repository root: `.venv/bin/python -m bench.cluster_load --quick`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.cluster_stores import (
    HelmShim,
    StoreTracker,
    by_release,
    create_stores,
    delete_store,
    log,
)
from bench.measure import children_cpu_seconds, cpu_seconds, percentile, rss_mb
from bench.stack import (
    GraphQL,
    StoreplaneProcess,
    helm_binary,
    kubesim_running,
    run_benchmark,
    storeplane_running,
    workdir,
)
from kubesim.client import ControlClient
from kubesim.process import KubesimProcess

Obj = dict[str, Any]
Key = tuple[str, str, str]
"""(client, verb, resource): client is storeplane, helm or other (kubesim's user agent product)."""
STOREPLANE_DEFAULT_WATCH_TIMEOUT = 300
GET_OR_LIST = ("get", "list")


@dataclass(frozen=True)
class Config:
    """Sizes of one run; `--quick` shrinks them."""

    stores: int = 1_000
    """Stores Ready during the loaded window."""
    baseline_stores: int = 10
    """Stores Ready during the baseline window."""
    window: float = 300.0
    """Seconds each idle window lasts."""
    lifecycles: int = 10
    """Stores taken through create -> Ready -> delete -> Deleted to count helm calls."""
    provisioning_concurrency: int = 4
    """STOREPLANE_PROVISIONING_CONCURRENCY: helm installs Storeplane runs at once (its default; more does
    not go faster on 2 cores, where helm, kubesim and Storeplane share them)."""
    create_in_flight: int = 8
    """createStore requests the client keeps in flight."""
    watch_timeout: int | None = None
    """STOREPLANE_WATCH_SERVER_TIMEOUT_SECONDS; None leaves Storeplane's default (300 s)."""
    settle: float = 5.0
    """Seconds without a request from Storeplane or helm before a window starts (capped at 60 s)."""
    ready_timeout: float = 1800.0
    """Seconds to wait for the stores of one phase to be Ready (or Deleted)."""
    profile: str = "test"
    """kubesim's delay profile."""


# -- kubesim's request counters --------------------------------------------------------------------


def client_of(user_agent: str) -> str:
    # kubesim keeps the user agent's product: "storeplane" (kubernetes_asyncio, app/storeplane/k8s/client.py)
    # or "Helm/<version>".
    if user_agent.startswith("storeplane"):
        return "storeplane"
    if user_agent.lower().startswith("helm"):
        return "helm"
    return "other"


def request_counts(metrics: Obj) -> Counter[Key]:
    counts: Counter[Key] = Counter()
    for row in metrics["requests"]:
        counts[(client_of(row["userAgent"]), row["verb"], row["resource"])] += int(row["count"])
    return counts


def since(after: Counter[Key], before: Counter[Key]) -> Counter[Key]:
    return Counter({key: after[key] - before[key] for key in after if after[key] > before[key]})


def of_client(counts: Counter[Key], client: str) -> dict[str, int]:
    """`verb resource` -> count, for one client."""
    return {f"{verb} {resource}": n for (who, verb, resource), n in sorted(counts.items()) if who == client}


def total(counts: Counter[Key], client: str, verbs: tuple[str, ...] | None = None) -> int:
    return sum(
        n for (who, verb, _), n in counts.items() if who == client and (verbs is None or verb in verbs)
    )


async def settle(control: ControlClient, quiet: float, *, limit: float = 60.0) -> float:
    """Until neither Storeplane nor helm has made a request for `quiet` seconds; the seconds it took."""
    started = time.monotonic()
    last = Counter[Key]()
    last_change = started
    while True:
        counts = request_counts(await control.metrics())
        current = Counter({k: n for k, n in counts.items() if k[0] != "other"})
        now = time.monotonic()
        if current != last:
            last, last_change = current, now
        elif now - last_change >= quiet:
            return now - started
        if now - started >= limit:
            log(f"requests did not stop within {limit:g}s; measuring anyway")
            return now - started
        await asyncio.sleep(min(0.5, quiet / 2))


# -- the phases ------------------------------------------------------------------------------------


@dataclass
class Window:
    """What Storeplane asked of the API during one quiet window with `stores` Ready."""

    stores: int
    seconds: float = 0.0
    settle_s: float = 0.0
    requests: Counter[Key] = field(default_factory=Counter)
    watches_min: int = 0
    watches_max: int = 0
    watches_by_resource: dict[str, int] = field(default_factory=dict)
    storeplane_cpu_pct: float = 0.0
    kubesim_cpu_pct: float = 0.0
    storeplane_rss_mb: float = 0.0
    objects: dict[str, int] = field(default_factory=dict)
    """Objects in the cluster by resource (kubesim's count), which is what Storeplane's watches cache."""

    def to_json(self) -> Obj:
        return {
            "stores": self.stores,
            "seconds": round(self.seconds, 1),
            "settle_s": round(self.settle_s, 1),
            "storeplane_requests": total(self.requests, "storeplane"),
            "storeplane_get_list": total(self.requests, "storeplane", GET_OR_LIST),
            "storeplane_watch_requests": total(self.requests, "storeplane", ("watch",)),
            "helm_requests": total(self.requests, "helm"),
            "other_requests": total(self.requests, "other"),
            "requests": of_client(self.requests, "storeplane"),
            "open_watches_min": self.watches_min,
            "open_watches_max": self.watches_max,
            "open_watches_by_resource": self.watches_by_resource,
            "storeplane_cpu_pct": self.storeplane_cpu_pct,
            "kubesim_cpu_pct": self.kubesim_cpu_pct,
            "storeplane_rss_mb": self.storeplane_rss_mb,
            "cluster_objects": sum(self.objects.values()),
            "cluster_events": self.objects.get("events./v1", 0),
            "cluster_pods": self.objects.get("pods./v1", 0),
        }


@dataclass
class Creation:
    """Stores created and waited for until Ready, and what that cost."""

    stores: int
    ready: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    requests: Counter[Key] = field(default_factory=Counter)
    helm_calls: Counter[str] = field(default_factory=Counter)
    storeplane_cpu_s: float = 0.0
    helm_cpu_s: float = 0.0
    kubesim_cpu_s: float = 0.0

    def to_json(self) -> Obj:
        count = max(1, self.stores)
        return {
            "stores": self.stores,
            "ready": self.ready,
            "failed": len(self.failed),
            "first_failures": self.failed[:5],
            "seconds": round(self.seconds, 2),
            "stores_per_s": round(self.stores / self.seconds, 2) if self.seconds else 0.0,
            "storeplane_requests_per_store": round(total(self.requests, "storeplane") / count, 2),
            "helm_requests_per_store": round(total(self.requests, "helm") / count, 2),
            "storeplane_requests": of_client(self.requests, "storeplane"),
            "helm_requests": of_client(self.requests, "helm"),
            "helm_calls_per_store": {k: round(n / count, 2) for k, n in sorted(self.helm_calls.items())},
            "cpu_s_per_store": {
                "storeplane": round(self.storeplane_cpu_s / count, 3),
                "helm": round(self.helm_cpu_s / count, 3),
                "kubesim": round(self.kubesim_cpu_s / count, 3),
            },
        }


@dataclass
class Run:
    """The processes and clients of one run, and its phases."""

    config: Config
    gql: GraphQL
    tracker: StoreTracker
    control: ControlClient
    shim: HelmShim
    server: StoreplaneProcess
    sim: KubesimProcess

    async def counts(self) -> Counter[Key]:
        return request_counts(await self.control.metrics())

    async def lifecycles(self) -> Obj:
        """`config.lifecycles` stores through create -> Ready -> delete -> Deleted, all at once."""
        config, tracker = self.config, self.tracker
        names = [f"life-{number:03d}" for number in range(config.lifecycles)]
        before = await self.counts()
        seconds: list[float] = []
        failed: list[str] = []

        async def one(name: str) -> None:
            started = time.monotonic()
            store_id = (await create_stores(self.gql, [name], in_flight=1))[name]
            if not await tracker.wait([store_id], "READY", timeout=config.ready_timeout):
                raise TimeoutError(f"{name} not Ready within {config.ready_timeout:g}s")
            failed.extend(tracker.failures([store_id]))
            await delete_store(self.gql, store_id)
            if not await tracker.wait([store_id], "DELETED", timeout=config.ready_timeout):
                raise TimeoutError(f"{name} not Deleted within {config.ready_timeout:g}s")
            seconds.append(time.monotonic() - started)

        log(f"{config.lifecycles} lifecycles (create -> Ready -> delete -> Deleted)")
        started = time.monotonic()
        await asyncio.gather(*(one(name) for name in names))
        elapsed = time.monotonic() - started
        await settle(self.control, config.settle)
        requests = since(await self.counts(), before)
        helm = by_release(self.shim.calls(), names)
        per_lifecycle = [sum(commands.values()) for commands in helm.values()]
        commands: Counter[str] = sum(helm.values(), Counter())
        count = max(1, config.lifecycles)
        return {
            "lifecycles": config.lifecycles,
            "seconds": round(elapsed, 2),
            "lifecycle_p50_s": round(percentile(seconds, 0.5), 2),
            "failed": failed,
            "helm_calls_mean": round(sum(per_lifecycle) / count, 2),
            "helm_calls_max": max(per_lifecycle, default=0),
            "helm_calls_by_command": {name: round(n / count, 2) for name, n in sorted(commands.items())},
            "storeplane_requests_per_lifecycle": round(total(requests, "storeplane") / count, 1),
            "helm_requests_per_lifecycle": round(total(requests, "helm") / count, 1),
            "storeplane_requests": {
                k: round(n / count, 2) for k, n in of_client(requests, "storeplane").items()
            },
        }

    async def create_until_ready(self, names: list[str]) -> Creation:
        config, tracker, server, sim = self.config, self.tracker, self.server, self.sim
        creation = Creation(stores=len(names))
        if not names:
            return creation
        log(f"creating {len(names)} stores ({config.provisioning_concurrency} provisioned at once)")
        before = await self.counts()
        cpu = (cpu_seconds(server.pid), children_cpu_seconds(server.pid), cpu_seconds(sim.pid))
        started = time.monotonic()
        ids = list((await create_stores(self.gql, names, in_flight=config.create_in_flight)).values())
        log(f"{len(ids)} creates accepted in {time.monotonic() - started:.1f}s; waiting for Ready")
        if not await tracker.wait(ids, "READY", timeout=config.ready_timeout):
            log(f"only {tracker.count(ids, 'READY')}/{len(ids)} Ready after {config.ready_timeout:g}s")
        creation.seconds = time.monotonic() - started
        creation.storeplane_cpu_s = cpu_seconds(server.pid) - cpu[0]
        creation.helm_cpu_s = children_cpu_seconds(server.pid) - cpu[1]
        creation.kubesim_cpu_s = cpu_seconds(sim.pid) - cpu[2]
        creation.requests = since(await self.counts(), before)
        creation.ready = tracker.count(ids, "READY")
        creation.failed = tracker.failures(ids)
        creation.helm_calls = sum(by_release(self.shim.calls(), names).values(), Counter())
        log(f"{creation.ready} Ready, {len(creation.failed)} failed in {creation.seconds:.1f}s")
        return creation

    async def idle_window(self, stores: int) -> Window:
        """Count requests and sample open watches (once a second) over `config.window` seconds."""
        config, control, server, sim = self.config, self.control, self.server, self.sim
        window = Window(stores=stores, settle_s=await settle(control, config.settle))
        log(f"window of {config.window:g}s with {stores} stores Ready")
        first = await control.metrics()
        before = request_counts(first)
        samples = [int(first["openWatches"])]
        by_resource: dict[str, int] = dict(first["openWatchesByResource"])
        cpu = (cpu_seconds(server.pid), cpu_seconds(sim.pid))
        started = time.monotonic()
        while (left := config.window - (time.monotonic() - started)) > 0:
            await asyncio.sleep(min(1.0, left))
            metrics = await control.metrics()
            samples.append(int(metrics["openWatches"]))
            for resource, count in metrics["openWatchesByResource"].items():
                by_resource[resource] = max(by_resource.get(resource, 0), int(count))
        window.seconds = time.monotonic() - started
        last = await control.metrics()
        window.requests = since(request_counts(last), before)
        window.objects = dict(last["objects"])
        window.watches_min, window.watches_max = min(samples), max(samples)
        window.watches_by_resource = dict(sorted(by_resource.items()))
        window.storeplane_cpu_pct = round(100 * (cpu_seconds(server.pid) - cpu[0]) / window.seconds, 2)
        window.kubesim_cpu_pct = round(100 * (cpu_seconds(sim.pid) - cpu[1]) / window.seconds, 2)
        window.storeplane_rss_mb = round(rss_mb(server.pid), 1)
        return window

    async def phases(self) -> Obj:
        config = self.config
        started = time.monotonic()
        life = await self.lifecycles() if config.lifecycles else None
        lifecycle_s = time.monotonic() - started
        base_created = await self.create_until_ready([f"base-{n:03d}" for n in range(config.baseline_stores)])
        baseline = await self.idle_window(base_created.ready)
        more = config.stores - config.baseline_stores
        loaded_created = await self.create_until_ready([f"load-{n:04d}" for n in range(more)])
        loaded = await self.idle_window(base_created.ready + loaded_created.ready)
        return report(
            config,
            life=life,
            lifecycle_s=lifecycle_s,
            creation=loaded_created,
            baseline=baseline,
            loaded=loaded,
            resubscribed=self.tracker.resubscribed,
        )


def storeplane_settings(config: Config, shim: HelmShim) -> dict[str, str]:
    settings = {
        "HELM_BINARY": str(shim.path),
        "PROVISIONING_CONCURRENCY": str(config.provisioning_concurrency),
        "MAX_STORES_PER_OWNER": str(config.stores + config.lifecycles + 10),
    }
    if config.watch_timeout is not None:
        settings["WATCH_SERVER_TIMEOUT_SECONDS"] = str(config.watch_timeout)
    return settings


async def measure(config: Config) -> Obj:
    with workdir("cluster-load-") as work:
        shim = HelmShim(work, helm_binary())
        shim.install()
        async with (
            kubesim_running(work, profile=config.profile) as sim,
            storeplane_running(work, sim.kubeconfig, storeplane_settings(config, shim)) as server,
            ControlClient(sim.url) as control,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
        ):
            gql = GraphQL(http, server.url)
            tracker = StoreTracker(gql, server.ws_url)
            await tracker.start()
            try:
                run = Run(config, gql, tracker, control, shim, server, sim)
                return await run.phases()
            finally:
                await tracker.close()


def ratio(base: float, value: float) -> float | None:
    return round(value / base, 2) if base else None


def report(
    config: Config,
    *,
    life: Obj | None,
    lifecycle_s: float,
    creation: Creation,
    baseline: Window,
    loaded: Window,
    resubscribed: int,
) -> Obj:
    kinds = sorted(set(baseline.requests) | set(loaded.requests))
    by_kind = [
        {
            "client": who,
            "verb": verb,
            "resource": resource,
            "baseline": baseline.requests[(who, verb, resource)],
            "loaded": loaded.requests[(who, verb, resource)],
            "ratio": ratio(baseline.requests[(who, verb, resource)], loaded.requests[(who, verb, resource)]),
        }
        for who, verb, resource in kinds
    ]
    base_total, load_total = total(baseline.requests, "storeplane"), total(loaded.requests, "storeplane")
    base_gl = total(baseline.requests, "storeplane", GET_OR_LIST)
    load_gl = total(loaded.requests, "storeplane", GET_OR_LIST)
    helm_max = None if life is None else life["helm_calls_max"]
    # A full run with the defaults, at this run's pace: startup and the fixed parts are small beside these.
    rate = creation.stores / creation.seconds if creation.seconds else 0.0
    estimate = (
        lifecycle_s * (10 / config.lifecycles if config.lifecycles else 0)
        + (1_000 / rate if rate else 0)
        + 2 * (300 + config.settle)
    )
    return {
        "benchmark": "cluster_load",
        "profile": config.profile,
        "stores": config.stores,
        "baseline_stores": config.baseline_stores,
        "window_s": config.window,
        "provisioning_concurrency": config.provisioning_concurrency,
        "max_stores_per_owner": config.stores + config.lifecycles + 10,
        "watch_server_timeout_s": config.watch_timeout or STOREPLANE_DEFAULT_WATCH_TIMEOUT,
        "lifecycle": life,
        "creation": creation.to_json(),
        "window": {"baseline": baseline.to_json(), "loaded": loaded.to_json()},
        "by_kind": by_kind,
        "storeplane_requests_ratio": ratio(base_total, load_total),
        # Zero when nothing Storeplane asks of the API while idle is per store.
        "window_requests_per_added_store": round(
            (load_total - base_total) / max(1, loaded.stores - baseline.stores), 3
        ),
        "targets": {
            "open_watches": {
                "baseline": baseline.watches_max,
                "loaded": loaded.watches_max,
                "met": loaded.watches_max <= 10 and loaded.watches_max == baseline.watches_max,
            },
            "idle_get_list": {
                "baseline": base_gl,
                "loaded": load_gl,
                # One relist per watch may fall in either window; anything beyond grows with the stores.
                "met": load_gl <= base_gl + max(baseline.watches_max, 1),
            },
            "helm_calls_per_lifecycle": {"max": helm_max, "met": helm_max is not None and helm_max <= 3},
        },
        "full_run_estimate_s": round(estimate),
        "store_changes_resubscribed": resubscribed,
    }


# -- output ----------------------------------------------------------------------------------------


def table(result: Obj) -> str:
    base, load = result["window"]["baseline"], result["window"]["loaded"]
    creation, life, targets = result["creation"], result["lifecycle"], result["targets"]
    rows: list[tuple[str, str]] = [
        ("stores Ready: baseline / loaded", f"{base['stores']} / {load['stores']}"),
        ("idle window", f"{base['seconds']} s / {load['seconds']} s"),
        (
            "Storeplane requests in window",
            f"{base['storeplane_requests']} / {load['storeplane_requests']} "
            f"(ratio {result['storeplane_requests_ratio']})",
        ),
        ("  per store added", f"{result['window_requests_per_added_store']}"),
        ("  of which get+list", f"{base['storeplane_get_list']} / {load['storeplane_get_list']}"),
        (
            "  of which watch (re-watch)",
            f"{base['storeplane_watch_requests']} / {load['storeplane_watch_requests']}",
        ),
        (
            "helm / other requests in window",
            f"{base['helm_requests']}+{base['other_requests']} / "
            f"{load['helm_requests']}+{load['other_requests']}",
        ),
        (
            "open watches min-max",
            f"{base['open_watches_min']}-{base['open_watches_max']} / "
            f"{load['open_watches_min']}-{load['open_watches_max']}",
        ),
        ("Storeplane CPU idle", f"{base['storeplane_cpu_pct']}% / {load['storeplane_cpu_pct']}% of a core"),
        ("Storeplane RSS", f"{base['storeplane_rss_mb']} / {load['storeplane_rss_mb']} MiB"),
        (
            "objects in the cluster (Events, pods)",
            f"{base['cluster_objects']} ({base['cluster_events']}, {base['cluster_pods']}) / "
            f"{load['cluster_objects']} ({load['cluster_events']}, {load['cluster_pods']})",
        ),
    ]
    for row in result["by_kind"]:
        rows.append(
            (
                f"  {row['client']} {row['verb']} {row['resource']}",
                f"{row['baseline']} / {row['loaded']} (ratio {row['ratio']})",
            )
        )
    rows += [
        (
            "creation: stores, seconds",
            f"{creation['stores']} in {creation['seconds']} s "
            f"({creation['stores_per_s']}/s, {creation['ready']} Ready, {creation['failed']} failed)",
        ),
        (
            "  requests per store created",
            f"Storeplane {creation['storeplane_requests_per_store']}, "
            f"helm {creation['helm_requests_per_store']}",
        ),
        ("  helm calls per store created", json.dumps(creation["helm_calls_per_store"])),
        ("  CPU s per store", json.dumps(creation["cpu_s_per_store"])),
    ]
    if life is not None:
        rows += [
            (
                "lifecycles",
                f"{life['lifecycles']} in {life['seconds']} s (p50 {life['lifecycle_p50_s']} s each)",
            ),
            (
                "  helm calls per lifecycle",
                f"mean {life['helm_calls_mean']}, max {life['helm_calls_max']} "
                f"{json.dumps(life['helm_calls_by_command'])}",
            ),
            (
                "  API requests per lifecycle",
                f"Storeplane {life['storeplane_requests_per_lifecycle']}, "
                f"helm {life['helm_requests_per_lifecycle']}",
            ),
        ]
    for name, target in targets.items():
        figures = ", ".join(f"{k} {v}" for k, v in target.items() if k != "met")
        rows.append((f"target {name}", f"{'met' if target['met'] else 'MISSED'} ({figures})"))
    rows.append(("full run estimate", f"{result['full_run_estimate_s']} s"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_load", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 stores vs 5, 30 s windows, 3 lifecycles")
    parser.add_argument(
        "--stores", type=int, help="stores Ready in the loaded window (default 1000, quick 50)"
    )
    parser.add_argument(
        "--baseline-stores", type=int, help="stores Ready in the baseline window (default 10, quick 5)"
    )
    parser.add_argument("--window", type=float, help="seconds of each idle window (default 300, quick 30)")
    parser.add_argument("--lifecycles", type=int, help="create-to-Deleted lifecycles (default 10, quick 3)")
    parser.add_argument("--concurrency", type=int, help="STOREPLANE_PROVISIONING_CONCURRENCY (default 4)")
    parser.add_argument("--create-in-flight", type=int, help="createStore requests in flight (default 8)")
    parser.add_argument(
        "--watch-timeout", type=int, help="STOREPLANE_WATCH_SERVER_TIMEOUT_SECONDS (default 300)"
    )
    parser.add_argument("--settle", type=float, help="quiet seconds before each window (default 5, quick 2)")
    parser.add_argument(
        "--ready-timeout", type=float, help="seconds to wait for a phase's stores (default 1800)"
    )
    parser.add_argument("--profile", choices=("test", "demo"), default="test", help="kubesim delay profile")
    args = parser.parse_args(argv)
    config = (
        Config(stores=50, baseline_stores=5, window=30.0, lifecycles=3, settle=2.0)
        if args.quick
        else Config()
    )
    overrides = {
        "stores": args.stores,
        "baseline_stores": args.baseline_stores,
        "window": args.window,
        "lifecycles": args.lifecycles,
        "provisioning_concurrency": args.concurrency,
        "create_in_flight": args.create_in_flight,
        "watch_timeout": args.watch_timeout,
        "settle": args.settle,
        "ready_timeout": args.ready_timeout,
    }
    values = {key: value for key, value in overrides.items() if value is not None}
    config = Config(**{**config.__dict__, **values, "profile": args.profile})
    if not 1 <= config.baseline_stores < config.stores:
        parser.error("need 1 <= --baseline-stores < --stores")
    return config


def main(argv: list[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    run_benchmark(lambda: measure(config), table)


if __name__ == "__main__":
    main()
