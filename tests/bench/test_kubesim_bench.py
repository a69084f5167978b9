"""The kubesim benchmark still runs and prints well-formed figures (how fast is never checked here)."""

from __future__ import annotations

from typing import Any

from tests.bench.smoke_helpers import bench_pids, run_bench

# The processes a run starts: kubesim and Storeplane by their folder, the client processes by module.
MARKS = (b"/kubesim-bench-",)


def assert_latency(figures: dict[str, Any]) -> None:
    for key in ("p50", "p99", "max", "first_p50", "first_p99", "open_s", "kubesim_cpu_pct", "client_cpu_pct"):
        assert isinstance(figures[key], float | int), key
        assert figures[key] >= 0, key
    assert figures["p50"] <= figures["p99"] <= figures["max"]
    assert isinstance(figures["delivered"], int)
    assert figures["delivered"] == figures["expected"] > 0


async def test_kubesim_bench_prints_one_json_line_with_its_figures() -> None:
    before = bench_pids(*MARKS)
    args = ["--namespaces", "3", "--watches", "6"]
    args += ["--rate", "20", "--seconds", "0.5"]
    stdout, figures = await run_bench("kubesim_bench", args, timeout=120.0)
    assert "creates/s" in stdout  # the human table precedes it
    assert figures["benchmark"] == "kubesim"
    assert figures["namespaces"] == 3
    assert figures["watches"] == 6
    assert figures["events_watches"] == 2
    # 3 namespaces of 16 objects each (the namespace and its 15), and the pods the controllers made.
    assert figures["objects_created"] == 48
    assert figures["create_errors"] == 0
    assert figures["objects"] > figures["objects_created"]
    assert figures["pods"] >= 6  # a web and a db pod per namespace, and the Job's unless it is cleaned up
    for key in ("creates_per_s", "create_p50_ms", "create_p99_ms", "ready_s", "rss_idle_mb", "rss_mb"):
        assert isinstance(figures[key], float | int), key
        assert figures[key] > 0, key
    assert figures["create_p50_ms"] <= figures["create_p99_ms"]
    assert figures["not_ready"] == 0
    assert figures["watch_drops"] == 0
    assert_latency(figures["latency_ms"]["baseline"])
    assert_latency(figures["latency_ms"]["loaded"])
    assert figures["latency_ms"]["baseline"]["expected"] == 10
    assert isinstance(figures["p99_ratio"], float | int)
    assert isinstance(figures["p99_diff_ms"], float | int)
    assert bench_pids(*MARKS) <= before, "the benchmark left a kubesim process behind"
