"""The state benchmark still runs and prints well-formed figures (how fast is never checked here)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.helpers import REPO, run

READS = (
    "floor",
    "stores_first_page",
    "stores_first_page_lean",
    "stores_next_pages",
    "stores_search",
    "stores_status",
    "events_first_page",
    "events_next_pages",
)


def bench_state_pids() -> set[int]:
    """Processes a state benchmark started: kubesim and storeplane of a `state-bench-` folder, its clients."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes()
            # storeplane's command line is the same as any other's; its data folder is in its environment.
            environ = (proc / "environ").read_bytes() if b"app.cli" in args else b""
        except OSError:
            continue  # it exited while we looked
        if b"bench.state_clients" in args or b"/state-bench-" in args + environ:
            pids.add(int(proc.name))
    return pids


def assert_figures(figures: dict[str, Any]) -> None:
    for key in ("p50", "p99", "max"):
        assert isinstance(figures[key], float | int), key
        assert figures[key] >= 0, key
    assert figures["p50"] <= figures["p99"] <= figures["max"]


async def test_state_bench_prints_one_json_line_with_its_figures() -> None:
    before = bench_state_pids()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # 150 stores, so that the owner has more than one page of live stores (cursor pages are read too).
    args = [sys.executable, "-m", "bench.state", "--stores", "150", "--events", "1500"]
    args += ["--subscribers", "5", "--samples", "10", "--warmup", "2", "--pages", "3"]
    result = (await run(args, env=env, timeout=120.0)).check()

    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert not any(line.startswith("{") for line in lines[:-1]), "exactly one JSON line"
    assert "stores_first_page" in result.stdout  # the human table precedes it
    assert figures["benchmark"] == "state"
    assert (figures["stores"], figures["events"], figures["subscribers"]) == (150, 1500, 5)
    assert sum(figures["statuses"].values()) == 150
    assert set(figures["statuses"]) <= {"Failed", "Deleted"}  # the two states the server leaves alone
    assert 50 < figures["owner_live"] <= figures["owner_stores"] < 150
    assert set(figures["reads"]) == set(READS)
    for name, read in figures["reads"].items():
        assert_figures(read["graphql"])
        assert_figures(read["sql"])
        assert read["graphql"]["p50"] > 0, name
        assert isinstance(read["server_cpu_ms"], float | int), name
    # The hot store has 250 events: two full pages of 100 and a third of 50.
    assert figures["reads"]["events_first_page"]["rows"] == 100
    assert figures["reads"]["events_next_pages"]["variants"] == 2
    assert figures["reads"]["stores_first_page"]["rows"] == 50
    memory = figures["memory"]
    assert memory["rss_none_mb"] > 0
    assert memory["rss_subscribed_mb"] > 0
    subscribers = memory["subscribers"]
    assert subscribers["opened"] == 5
    assert subscribers["problems"] == 0
    assert subscribers["received"] == subscribers["expected"] > 0  # the storeEvents replays
    assert memory["change_delivered"] == memory["change_expected"] == 3
    assert set(figures["targets"]) == {"first_page_p99_ms", "first_page_met", "rss_mb", "rss_met"}
    assert figures["machine"]["nproc"] >= 1
    assert bench_state_pids() <= before, "the benchmark left a process behind"
