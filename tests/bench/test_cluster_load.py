"""The cluster-load benchmark still runs and prints well-formed figures (never how much load it finds)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.helpers import REPO, run


def bench_pids() -> set[int]:
    """Processes started by this benchmark: kubesim and storeplane both run with a `cluster-load-` folder."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue  # it exited while we looked, or is not ours to read
        if any(b"/cluster-load-" in arg for arg in args) or b"/cluster-load-" in environ:
            pids.add(int(proc.name))
    return pids


async def test_cluster_load_prints_one_json_line_with_its_figures() -> None:
    before = bench_pids()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "bench.cluster_load", "--stores", "3", "--baseline-stores", "1"]
    args += ["--window", "3", "--lifecycles", "1", "--settle", "0.5"]
    result = (await run(args, env=env, timeout=120.0)).check()

    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert not any(line.startswith("{") for line in lines[:-1]), "exactly one JSON line"
    assert "open watches" in result.stdout  # the human table precedes it
    assert figures["benchmark"] == "cluster_load"
    assert (figures["stores"], figures["baseline_stores"], figures["window_s"]) == (3, 1, 3.0)
    base, loaded = figures["window"]["baseline"], figures["window"]["loaded"]
    assert (base["stores"], loaded["stores"]) == (1, 3), "every store reached Ready"
    for window in (base, loaded):
        assert window["seconds"] >= 3.0
        assert 0 < window["open_watches_min"] <= window["open_watches_max"]
        assert sum(window["open_watches_by_resource"].values()) >= window["open_watches_max"]
        assert window["storeplane_requests"] >= window["storeplane_get_list"] >= 0
        assert window["storeplane_rss_mb"] > 0
    creation = figures["creation"]
    assert (creation["stores"], creation["ready"], creation["failed"]) == (2, 2, 0)
    assert creation["stores_per_s"] > 0
    # Each store's namespace is Storeplane's own create; every other object is helm's.
    assert creation["storeplane_requests"].get("create namespaces") == 2
    assert creation["helm_requests_per_store"] > 0
    assert creation["helm_calls_per_store"].get("install") == 1.0
    life = figures["lifecycle"]
    assert life["lifecycles"] == 1
    assert life["failed"] == []
    assert life["helm_calls_max"] >= 2  # at least an install and an uninstall, seen through the shim
    assert set(life["helm_calls_by_command"]) >= {"install", "uninstall"}
    assert set(figures["targets"]) == {"open_watches", "idle_get_list", "helm_calls_per_lifecycle"}
    for target in figures["targets"].values():
        assert isinstance(target["met"], bool)
    assert isinstance(figures["full_run_estimate_s"], int)
    assert figures["machine"]["nproc"] >= 1
    assert bench_pids() <= before, "the benchmark left a process behind"
