"""The event latency benchmark still runs and prints well-formed figures (how fast is never checked here)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.helpers import REPO, run


def bench_pids() -> set[int]:
    """Processes of an event_latency run: kubesim and the server (by their workdir), the subscribers."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes()
        except OSError:
            continue  # it exited while we looked, or is not ours to read
        if b"/event-latency-" in args + env or b"bench.event_clients" in args:
            pids.add(int(proc.name))
    return pids


def assert_spread(figures: dict[str, Any]) -> None:
    for key in ("p50", "p99", "max"):
        assert isinstance(figures[key], float | int), key
        assert figures[key] >= 0, key
    assert figures["p50"] <= figures["p99"] <= figures["max"]


async def test_event_latency_prints_one_json_line_with_its_figures() -> None:
    before = bench_pids()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "bench.event_latency", "--subscribers", "1,3", "--seconds", "1"]
    args += ["--rate", "20", "--poll-interval", "1"]
    result = (await run(args, env=env, timeout=120.0)).check()

    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert not any(line.startswith("{") for line in lines[:-1]), "exactly one JSON line"
    assert "poll staleness" in result.stdout  # the human table precedes it
    assert figures["benchmark"] == "event_latency"
    assert figures["event"] == "Warning BackOff"
    assert figures["machine"]["nproc"] >= 1
    assert figures["duration_s"] > 0
    assert [step["subscribers"] for step in figures["steps"]] == [1, 3]
    for step in figures["steps"]:
        writes = step["writes"]
        assert writes == 20
        assert step["recorded"] == writes, "every churn Event became a StoreEvent"
        assert step["open"] == step["subscribers"]
        assert step["dropped"] == 0
        assert step["baseline"]["delivered"] == step["baseline"]["expected"] == writes
        assert step["subscriber"]["delivered"] == step["subscriber"]["expected"] == writes * step["open"]
        assert_spread(step["baseline"])
        assert_spread(step["subscriber"])
        assert_spread(step["poll"])
        assert step["poll"]["reflected"] + step["poll"]["unseen"] == writes
        assert step["poll"]["reflected"] > 0
        # A poll sees a write only after kubesim made it, and a subscriber only after the watch could.
        assert step["poll"]["p50"] > 0
        assert step["subscriber"]["p50"] > 0
        assert isinstance(step["p99_diff_ms"], float | int)
        assert set(step["cpu_pct"]) == {"server", "kubesim", "clients", "bench"}
    assert figures["target"]["subscribers"] == 3
    assert isinstance(figures["target"]["met"], bool)
    assert bench_pids() <= before, "the benchmark left a process behind"
