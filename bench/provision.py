"""Provisioning overhead: createStore -> Ready through Storeplane against a bare `helm install --wait`.

With fixed kubesim delays (DELAYS), for the same chart and the same values:

1. singles: one store at a time, alternating a bare `helm install --wait=watcher --wait-for-jobs` (the
   baseline) and createStore through the GraphQL API, Ready seen on the `storeChanged` subscription; medians
   and their ratio. Right at each end point the store's namespace is read back from kubesim, to show that
   both mean the same thing (workloads ready, setup Job complete, PVCs bound, Ingress present).
2. bursts: N creates sent at once against N bare helm installs with as many helms in flight as Storeplane's
   `STOREPLANE_PROVISIONING_CONCURRENCY`; total time (first create to last Ready), per-store p50/p99
   (each from its request), ratios. During Storeplane's burst another process sends `stores(first: 50)`
   queries at a steady rate; their latency is set against the same queries on the idle server afterwards.

Each side has its own kubesim process; the two never run at the same time.

Run from the repository root: `.venv/bin/python -m bench.provision --quick`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from websockets.asyncio.client import ClientConnection

from bench.measure import children_cpu_seconds, cpu_seconds, ms, percentile
from bench.stack import (
    ENGINE,
    REPO,
    GraphQL,
    StoreplaneProcess,
    create_store,
    helm_binary,
    helm_env,
    kubesim_running,
    open_subscription,
    run_benchmark,
    storeplane_running,
    workdir,
)
from kubesim.process import KubesimProcess
from storeplane.engines.catalog import load_catalog
from storeplane.k8s.helm_args import HelmConfig, install_args
from storeplane.stores.names import namespace_for

Obj = dict[str, Any]

DELAYS: dict[str, float] = {
    "schedule": 0.1,
    "image_pull": 0.2,
    "container_start": 0.2,
    "readiness": 1.0,
    "job_run": 1.0,
    "pvc_bind": 0.2,
}
"""kubesim delays (seconds) for both sides: a pod is Ready ~1.5 s after it is created, the setup Job ends
~1.6 s after (init container and container each started, then 1 s of run). Images are pulled once per
kubesim: the warm-up store pays that."""

BASE_DOMAIN = "localtest.me"
"""Storeplane's default `STOREPLANE_BASE_DOMAIN`: the store's host is `<name>.localtest.me`."""
OPERATION_TIMEOUT = 300.0
"""helm's `--timeout` as Storeplane passes it (the longest of its install and uninstall limits)."""
VALUES_FILE = REPO / "values" / "local.yaml"
"""`values/<STOREPLANE_ENVIRONMENT>.yaml` for the default environment."""
TARGET_SINGLE_RATIO = 1.05
TARGET_BURST_RATIO = 1.10
TARGET_QUERY_P99_MS = 100.0
SINGLE_TIMEOUT = 120.0
BURST_TIMEOUT = 1200.0

CHANGED = "subscription { storeChanged { id status failureReason } }"


@dataclass(frozen=True)
class Config:
    """Sizes of one run; `--quick` shrinks them."""

    singles: int = 5
    """Single stores per side, alternating."""
    burst: int = 100
    """Stores per burst."""
    concurrency: int = 4
    """STOREPLANE_PROVISIONING_CONCURRENCY, and the bare helms in flight in the baseline's burst."""
    high_concurrency: int = 16
    """A second pair of bursts at this concurrency, on fresh processes; 0 skips it."""
    query_rate: float = 10.0
    """`stores(first: 50)` queries per second during Storeplane's bursts."""
    idle_seconds: float = 5.0
    """How long the same queries are sampled on the idle server after each burst (their baseline)."""
    settle_seconds: float = 3.0
    """Between the last Ready and the idle sampling: the watches' last events are still being recorded."""
    warmup: int = 1
    """Unmeasured stores per side before the singles (image pulls, first helm run, first database writes)."""
    query_fields: str = "dashboard"
    """What the sampled queries ask of each store: the dashboard's fields, or `minimal` (id and status)."""


# -- Ready, as both sides see it ---------------------------------------------------------------------


class StoreFailed(RuntimeError):
    """A store went FAILED, or a bare helm install exited non-zero."""


@dataclass
class ReadyWatch:
    """One `storeChanged` subscription for every store of the owner, stamping when each goes READY."""

    ws_url: str
    messages: int = 0
    _ws: ClientConnection | None = None
    _task: asyncio.Task[None] | None = None
    _ready: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    def _future(self, store_id: str) -> asyncio.Future[float]:
        future = self._ready.get(store_id)
        if future is None:
            future = self._ready[store_id] = asyncio.get_running_loop().create_future()
        return future

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ReadyWatch]:
        self._ws = await open_subscription(self.ws_url, CHANGED)
        self._task = asyncio.create_task(self._read(self._ws), name="store-changed")
        try:
            yield self
        finally:
            self._task.cancel()
            await asyncio.wait({self._task})
            await self._ws.close()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                arrived = time.perf_counter()
                message = json.loads(raw)
                payload = message.get("payload") or {}
                if message.get("type") != "next" or payload.get("errors"):
                    raise StoreFailed(f"storeChanged ended: {str(message)[:500]}")
                self.messages += 1
                store = payload["data"]["storeChanged"]
                future = self._future(store["id"])
                if future.done():
                    continue
                if store["status"] == "READY":
                    future.set_result(arrived)
                elif store["status"] == "FAILED":
                    future.set_exception(StoreFailed(f"store {store['id']}: {store['failureReason']}"))
            raise StoreFailed("storeChanged: the server closed the websocket")
        except Exception as exc:
            for future in self._ready.values():
                if not future.done():
                    future.set_exception(exc)
            raise

    async def ready_at(self, store_id: str) -> float:
        """perf_counter() when the store's READY arrived."""
        future = self._future(store_id)
        # A dead reader has failed every waiting future; a new one would wait forever.
        if self._task is not None and self._task.done() and not future.done():
            raise StoreFailed("storeChanged is no longer read")
        return await asyncio.shield(future)


async def storeplane_store(graphql: GraphQL, watch: ReadyWatch, name: str) -> tuple[float, float]:
    """Seconds from sending createStore to its answer, and to its READY arriving on the subscription."""
    started = time.perf_counter()
    store_id = await create_store(graphql, name)
    answered = time.perf_counter() - started
    return answered, await watch.ready_at(store_id) - started


@dataclass(frozen=True)
class BareHelm:
    """`helm install --wait=watcher --wait-for-jobs` with exactly the arguments and values Storeplane uses."""

    kubeconfig: Path
    workdir: Path
    chart: Path

    @classmethod
    def of(cls, sim: KubesimProcess, workdir: Path) -> BareHelm:
        engine = load_catalog(REPO / "charts" / "engines.yaml").get(ENGINE)
        assert engine is not None, f"{ENGINE} is not in charts/engines.yaml"
        return cls(kubeconfig=sim.kubeconfig, workdir=workdir, chart=engine.chart)

    def argv(self, name: str) -> list[str]:
        # The per-store values Storeplane writes (app/storeplane/provisioning/provisioner.py, `_run_install`),
        # with an id of the same shape as its store ids.
        store_id = "st-" + secrets.token_hex(6)
        values = self.workdir / f"values-{name}.yaml"
        document = {"store": {"id": store_id, "name": name, "host": f"{name}.{BASE_DOMAIN}"}}
        values.write_text(yaml.safe_dump(document, sort_keys=False))
        config = HelmConfig(
            binary=helm_binary(), kubeconfig=str(self.kubeconfig), operation_timeout=OPERATION_TIMEOUT
        )
        argv = install_args(
            config,
            release=name,
            namespace=namespace_for(name),
            chart=self.chart,
            values_files=[VALUES_FILE, values],
        )
        # What a bare helm adds: it makes the namespace itself and waits for every object of the release.
        at = argv.index("--")
        return [*argv[:at], "--create-namespace", "--wait=watcher", "--wait-for-jobs", *argv[at:]]

    async def install(self, name: str) -> float:
        """Seconds from starting helm to its exit 0; StoreFailed otherwise."""
        argv = self.argv(name)
        env = {**os.environ, **helm_env(self.workdir), "KUBECONFIG": str(self.kubeconfig)}
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        try:
            _, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise StoreFailed(f"helm install {name} exited {proc.returncode}: {err.decode()[-800:]}")
        return elapsed


# -- what "Ready" left in the cluster ----------------------------------------------------------------


async def cluster_problems(session: aiohttp.ClientSession, base: str, namespace: str) -> list[str]:
    """What is not ready in the namespace: workloads, Jobs, claims, the Ingress; empty when all is."""
    paths = {
        "Deployment": f"/apis/apps/v1/namespaces/{namespace}/deployments",
        "StatefulSet": f"/apis/apps/v1/namespaces/{namespace}/statefulsets",
        "Job": f"/apis/batch/v1/namespaces/{namespace}/jobs",
        "PersistentVolumeClaim": f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
        "Ingress": f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses",
    }
    problems = []
    for kind, path in paths.items():
        async with session.get(base + path) as response:
            response.raise_for_status()
            items: list[Obj] = (await response.json())["items"]
        if not items and kind != "Job":
            problems.append(f"no {kind}")
        for item in items:
            if not object_ready(kind, item):
                problems.append(f"{kind} {item['metadata']['name']} not ready")
    return problems


def object_ready(kind: str, obj: Obj) -> bool:
    status = obj.get("status") or {}
    if kind == "Job":
        return any(
            c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or []
        )
    if kind == "PersistentVolumeClaim":
        return status.get("phase") == "Bound"
    if kind == "Ingress":
        return True
    replicas = int((obj.get("spec") or {}).get("replicas", 1))
    current = int(status.get("observedGeneration") or 0) >= int(obj["metadata"].get("generation") or 0)
    counted = ("readyReplicas", "updatedReplicas") + (("availableReplicas",) if kind == "Deployment" else ())
    return current and all(int(status.get(key) or 0) >= replicas for key in counted)


# -- the query sampler -------------------------------------------------------------------------------


@dataclass
class Sampler:
    """bench/provision_sampler.py in a process (and process group) of its own."""

    url: str
    rate: float
    fields: str = "dashboard"
    _proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        args = ["-m", "bench.provision_sampler", "--url", self.url, "--rate", str(self.rate), "--first", "50"]
        args += ["--fields", self.fields]
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        async with asyncio.timeout(60):
            line = await self._proc.stdout.readline()
        if line.strip() != b"ready":
            await self.kill()
            raise RuntimeError(f"the query sampler did not start: {line!r}")

    async def stop(self) -> tuple[list[tuple[float, float, bool]], list[float]]:
        """Close its stdin; the samples, as (sent_at, seconds, ok), and when skipped ones were due."""
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.close()
        async with asyncio.timeout(60):
            out = await proc.stdout.read()
            await proc.wait()
        self._proc = None
        figures = json.loads(out.decode().strip().splitlines()[-1])
        samples = [(float(t), float(s), bool(ok)) for t, s, ok in figures["samples"]]
        return samples, [float(t) for t in figures["skipped"]]

    async def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Sampler]:
        await self.start()
        try:
            yield self
        finally:
            await self.kill()


def query_figures(
    samples: list[tuple[float, float, bool]], skipped: list[float], start: float, end: float
) -> Obj:
    """p50/p99/max of the successful queries sent between `start` and `end` (wall clock)."""
    window = [(seconds, ok) for sent, seconds, ok in samples if start <= sent <= end]
    latencies = [seconds for seconds, ok in window if ok]
    return {
        "count": len(window),
        "errors": sum(1 for _, ok in window if not ok),
        "skipped": sum(1 for due in skipped if start <= due <= end),
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(max(latencies, default=0.0)),
    }


# -- the run -----------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[provision {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ratio(ours: float, baseline: float) -> float | None:
    return round(ours / baseline, 3) if baseline > 0 else None


def burst_figures(latencies: list[float], total: float) -> Obj:
    return {
        "total_s": round(total, 3),
        "p50_s": round(percentile(latencies, 0.50), 3),
        "p99_s": round(percentile(latencies, 0.99), 3),
        "max_s": round(max(latencies, default=0.0), 3),
    }


@dataclass
class Side:
    """Everything one phase runs against: a kubesim per side, Storeplane, the watch on its stores."""

    baseline_sim: KubesimProcess
    ours_sim: KubesimProcess
    helm: BareHelm
    server: StoreplaneProcess
    graphql: GraphQL
    watch: ReadyWatch
    session: aiohttp.ClientSession


@contextlib.asynccontextmanager
async def phase(root: Path, *, concurrency: int) -> AsyncIterator[Side]:
    """Fresh kubesims (one per side) and a Storeplane with `concurrency` installs at once."""
    baseline_dir, ours_dir = root / f"baseline-c{concurrency}", root / f"storeplane-c{concurrency}"
    baseline_dir.mkdir()
    ours_dir.mkdir()
    settings = {
        "PROVISIONING_CONCURRENCY": str(concurrency),
        # The bench owner creates far more stores than the default quota of 20.
        "MAX_STORES_PER_OWNER": "100000",
    }
    async with (
        kubesim_running(baseline_dir, delays=DELAYS) as baseline_sim,
        kubesim_running(ours_dir, delays=DELAYS) as ours_sim,
        storeplane_running(ours_dir, ours_sim.kubeconfig, settings) as server,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        watch = ReadyWatch(server.ws_url)
        async with watch.running():
            yield Side(
                baseline_sim=baseline_sim,
                ours_sim=ours_sim,
                helm=BareHelm.of(baseline_sim, baseline_dir),
                server=server,
                graphql=GraphQL(session, server.url),
                watch=watch,
                session=session,
            )


async def warm_up(side: Side, count: int, tag: str) -> None:
    for number in range(count):
        log(f"warm-up {number + 1}/{count}")
        async with asyncio.timeout(SINGLE_TIMEOUT):
            await side.helm.install(f"warmup{tag}-{number}")
            await storeplane_store(side.graphql, side.watch, f"warmup{tag}-{number}")


async def run_singles(side: Side, config: Config) -> Obj:
    baseline: list[float] = []
    ours: list[float] = []
    agree = {"baseline": 0, "storeplane": 0}
    problems: list[str] = []
    for number in range(config.singles):
        name = f"single-{number}"
        async with asyncio.timeout(SINGLE_TIMEOUT):
            baseline.append(await side.helm.install(name))
            found = await cluster_problems(side.session, side.baseline_sim.url, namespace_for(name))
            agree["baseline"] += not found
            problems += [f"baseline {name}: {p}" for p in found]
            ours.append((await storeplane_store(side.graphql, side.watch, name))[1])
            found = await cluster_problems(side.session, side.ours_sim.url, namespace_for(name))
            agree["storeplane"] += not found
            problems += [f"storeplane {name}: {p}" for p in found]
        log(f"single {number + 1}/{config.singles}: helm {baseline[-1]:.3f}s, storeplane {ours[-1]:.3f}s")
    base_median, ours_median = statistics.median(baseline), statistics.median(ours)
    return {
        "runs": config.singles,
        "baseline_s": [round(s, 3) for s in baseline],
        "storeplane_s": [round(s, 3) for s in ours],
        "baseline_median_s": round(base_median, 3),
        "storeplane_median_s": round(ours_median, 3),
        "ratio": ratio(ours_median, base_median),
        "diff_ms": ms(ours_median - base_median),
        "all_ready_at_end": {"baseline": agree["baseline"], "storeplane": agree["storeplane"]},
        "not_ready_at_end": problems[:10],
    }


@dataclass
class CpuUse:
    """CPU seconds the processes of one side used between start() and stop()."""

    kubesim_pid: int
    server_pid: int | None = None
    figures: dict[str, float] = field(default_factory=dict)
    _start: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        now = {"kubesim": cpu_seconds(self.kubesim_pid), "client": time.process_time()}
        if self.server_pid is None:
            # The bare helms are this process's children, reaped by asyncio as each one exits.
            now["helm"] = children_cpu_seconds(os.getpid())
        else:
            now["storeplane"] = cpu_seconds(self.server_pid)
            now["helm"] = children_cpu_seconds(self.server_pid)
        return now

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        self.figures = {k: round(v - self._start[k], 2) for k, v in self._now().items()}


async def baseline_burst(side: Side, names: list[str], concurrency: int) -> Obj:
    """Every install requested at once, `concurrency` helms in flight; latency counted from the request."""
    slots = asyncio.Semaphore(concurrency)
    durations: list[float] = []
    latencies: list[float] = []

    async def one(name: str) -> None:
        async with slots:
            durations.append(await side.helm.install(name))
        latencies.append(time.perf_counter() - started)

    cpu = CpuUse(side.baseline_sim.pid)
    cpu.start()
    started = time.perf_counter()
    async with asyncio.timeout(BURST_TIMEOUT), asyncio.TaskGroup() as group:
        for name in names:
            group.create_task(one(name), name=f"helm-{name}")
    total = time.perf_counter() - started
    cpu.stop()
    return {
        **burst_figures(latencies, total),
        "helm_p50_s": round(percentile(durations, 0.5), 3),
        "cpu_s": cpu.figures,
    }


async def storeplane_burst(side: Side, names: list[str]) -> Obj:
    """Every createStore sent at once; latency from each request to its READY."""
    answers: list[float] = []
    latencies: list[float] = []

    async def one(name: str) -> None:
        answered, ready = await storeplane_store(side.graphql, side.watch, name)
        answers.append(answered)
        latencies.append(ready)

    cpu = CpuUse(side.ours_sim.pid, side.server.pid)
    cpu.start()
    started = time.perf_counter()
    async with asyncio.timeout(BURST_TIMEOUT), asyncio.TaskGroup() as group:
        for name in names:
            group.create_task(one(name), name=f"create-{name}")
    total = time.perf_counter() - started
    cpu.stop()
    return {
        **burst_figures(latencies, total),
        "create_answer_p50_ms": ms(percentile(answers, 0.5)),
        "create_answer_p99_ms": ms(percentile(answers, 0.99)),
        "cpu_s": cpu.figures,
    }


async def run_burst(side: Side, config: Config, *, concurrency: int) -> Obj:
    names = [f"burst{concurrency}-{number:03d}" for number in range(config.burst)]
    log(f"burst of {config.burst} bare helm installs, {concurrency} in flight")
    baseline = await baseline_burst(side, names, concurrency)
    log(f"baseline burst: {baseline['total_s']}s")
    log(f"burst of {config.burst} createStore, provisioning concurrency {concurrency}")
    if config.query_rate <= 0:
        ours = await storeplane_burst(side, names)
        log(f"storeplane burst: {ours['total_s']}s (no queries)")
        samples: list[tuple[float, float, bool]] = []
        skipped: list[float] = []
        start = end = settled = time.time()
    else:
        async with Sampler(side.server.url, config.query_rate, config.query_fields).running() as sampler:
            start = time.time()
            ours = await storeplane_burst(side, names)
            end = time.time()
            log(f"storeplane burst: {ours['total_s']}s; sampling the idle server for {config.idle_seconds}s")
            await asyncio.sleep(config.settle_seconds)
            settled = time.time()
            await asyncio.sleep(config.idle_seconds)
            samples, skipped = await sampler.stop()
    during = query_figures(samples, skipped, start, end)
    idle = query_figures(samples, skipped, settled, time.time())
    return {
        "stores": config.burst,
        "concurrency": concurrency,
        "baseline": baseline,
        "storeplane": ours,
        "total_ratio": ratio(ours["total_s"], baseline["total_s"]),
        "p50_ratio": ratio(ours["p50_s"], baseline["p50_s"]),
        "p99_ratio": ratio(ours["p99_s"], baseline["p99_s"]),
        "queries": {
            "during_burst": during,
            "idle": idle,
            "p99_ratio": ratio(during["p99_ms"], idle["p99_ms"]),
            "p99_diff_ms": round(during["p99_ms"] - idle["p99_ms"], 2),
        },
    }


async def measure(config: Config) -> Obj:
    result: Obj = {
        "benchmark": "provision",
        "delays": DELAYS,
        "singles": config.singles,
        "burst": config.burst,
        "concurrency": config.concurrency,
        "query_rate": config.query_rate,
        "warmup": config.warmup,
        "query_fields": config.query_fields,
    }
    with workdir("provision-bench-") as root:
        async with phase(root, concurrency=config.concurrency) as side:
            await warm_up(side, config.warmup, "")
            result["single"] = await run_singles(side, config)
            bursts = [await run_burst(side, config, concurrency=config.concurrency)]
            result["storechanged_messages"] = side.watch.messages
        if config.high_concurrency:
            async with phase(root, concurrency=config.high_concurrency) as side:
                await warm_up(side, config.warmup, f"c{config.high_concurrency}")
                bursts.append(await run_burst(side, config, concurrency=config.high_concurrency))
    result["bursts"] = bursts
    result["targets"] = targets(result)
    return result


def targets(result: Obj) -> Obj:
    """The issue's targets against the figures at the default concurrency (the first burst)."""
    burst = result["bursts"][0]
    found = {
        "single_ratio": (result["single"]["ratio"], TARGET_SINGLE_RATIO),
        "burst_ratio": (burst["total_ratio"], TARGET_BURST_RATIO),
        "query_p99_ms": (burst["queries"]["during_burst"]["p99_ms"], TARGET_QUERY_P99_MS),
    }
    return {
        name: {"value": value, "target": target, "met": value is not None and value <= target}
        for name, (value, target) in found.items()
    }


def cpu_row(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds}" for name, seconds in cpu.items())


def table(result: Obj) -> str:
    single = result["single"]
    rows = [
        ("kubesim delays", ", ".join(f"{k} {v}s" for k, v in result["delays"].items())),
        (
            f"single store, median of {single['runs']}",
            f"helm --wait {single['baseline_median_s']} s, storeplane {single['storeplane_median_s']} s: "
            f"{single['ratio']}x, {single['diff_ms']:+} ms (target <= 1.05x)",
        ),
        (
            "all ready at the end point",
            f"helm {single['all_ready_at_end']['baseline']}/{single['runs']}, "
            f"storeplane {single['all_ready_at_end']['storeplane']}/{single['runs']}",
        ),
    ]
    for burst in result["bursts"]:
        base, ours, queries = burst["baseline"], burst["storeplane"], burst["queries"]
        tag = f"burst {burst['stores']}, {burst['concurrency']} at once"
        rows += [
            (
                f"{tag}: total",
                f"helm {base['total_s']} s, storeplane {ours['total_s']} s: {burst['total_ratio']}x "
                "(target <= 1.10x)",
            ),
            (
                f"{tag}: per store p50 / p99",
                f"helm {base['p50_s']} / {base['p99_s']} s, storeplane {ours['p50_s']} / {ours['p99_s']} s: "
                f"{burst['p50_ratio']}x / {burst['p99_ratio']}x",
            ),
            (f"{tag}: one bare helm, p50", f"{base['helm_p50_s']} s"),
            (
                f"{tag}: createStore answered",
                f"p50 {ours['create_answer_p50_ms']} / p99 {ours['create_answer_p99_ms']} ms",
            ),
            (f"{tag}: CPU s, helm side", cpu_row(base["cpu_s"])),
            (f"{tag}: CPU s, storeplane side", cpu_row(ours["cpu_s"])),
            (
                f"{tag}: stores(first: 50)",
                f"p50 {queries['during_burst']['p50_ms']} / p99 {queries['during_burst']['p99_ms']} / "
                f"max {queries['during_burst']['max_ms']} ms ({queries['during_burst']['count']} queries, "
                f"{queries['during_burst']['errors']} errors, {queries['during_burst']['skipped']} skipped; "
                "target p99 <= 100 ms)",
            ),
            (
                f"{tag}: same queries idle",
                f"p50 {queries['idle']['p50_ms']} / p99 {queries['idle']['p99_ms']} / "
                f"max {queries['idle']['max_ms']} ms ({queries['idle']['count']} queries): "
                f"p99 {queries['p99_ratio']}x, {queries['p99_diff_ms']:+} ms",
            ),
        ]
    rows.append(
        (
            "targets met",
            ", ".join(f"{name} {'yes' if t['met'] else 'NO'}" for name, t in result["targets"].items()),
        )
    )
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench.provision", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 singles, a burst of 10, no second concurrency"
    )
    parser.add_argument("--singles", type=int, help="single stores per side (default 5, quick 2)")
    parser.add_argument("--burst", type=int, help="stores per burst (default 100, quick 10)")
    parser.add_argument("--concurrency", type=int, help="installs at once, both sides (default 4)")
    parser.add_argument(
        "--high-concurrency",
        type=int,
        help="also burst at this concurrency; 0 skips (default 16)",
    )
    parser.add_argument("--query-rate", type=float, help="stores queries per second (10)")
    parser.add_argument(
        "--idle-seconds", type=float, help="seconds of idle query sampling (default 5, quick 2)"
    )
    parser.add_argument("--settle-seconds", type=float, help="wait before the idle sampling (default 3)")
    parser.add_argument("--warmup", type=int, help="unmeasured stores per side first (default 1)")
    parser.add_argument(
        "--query-fields", choices=("dashboard", "minimal"), help="fields of the sampled query (dashboard)"
    )
    args = parser.parse_args(argv)
    config = (
        Config(singles=2, burst=10, high_concurrency=0, idle_seconds=2.0, settle_seconds=1.0)
        if args.quick
        else Config()
    )
    overrides = {
        "singles": args.singles,
        "burst": args.burst,
        "concurrency": args.concurrency,
        "high_concurrency": args.high_concurrency,
        "query_rate": args.query_rate,
        "idle_seconds": args.idle_seconds,
        "settle_seconds": args.settle_seconds,
        "warmup": args.warmup,
        "query_fields": args.query_fields,
    }
    return Config(**{**config.__dict__, **{k: v for k, v in overrides.items() if v is not None}})


def main(argv: list[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    run_benchmark(lambda: measure(config), table)


if __name__ == "__main__":
    main()
