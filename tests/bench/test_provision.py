"""The provisioning benchmark still runs and prints well-formed figures (how fast is never checked here)."""

from __future__ import annotations

from typing import Any

from tests.bench.smoke_helpers import bench_pids, run_bench

# The processes a run starts: kubesim and Storeplane by their folder, the client processes by module.
MARKS = (b"/provision-bench-", b"bench.provision_sampler")


def assert_burst_side(figures: dict[str, Any]) -> None:
    for key in ("total_s", "p50_s", "p99_s", "max_s"):
        assert isinstance(figures[key], float | int), key
        assert figures[key] > 0, key
    assert figures["p50_s"] <= figures["p99_s"] <= figures["max_s"] <= figures["total_s"] + 0.01
    assert set(figures["cpu_s"]) >= {"kubesim", "helm", "client"}
    assert figures["cpu_s"]["helm"] > 0  # each side ran helm


async def test_provision_bench_prints_one_json_line_with_its_figures() -> None:
    before = bench_pids(*MARKS)
    args = ["--singles", "1", "--burst", "2", "--warmup", "0"]
    args += ["--high-concurrency", "0", "--idle-seconds", "0.5", "--settle-seconds", "0"]
    stdout, figures = await run_bench("provision", args, timeout=180.0)
    assert "single store, median of 1" in stdout  # the human table precedes it
    assert figures["benchmark"] == "provision"
    assert figures["concurrency"] == 4
    assert figures["delays"]["readiness"] > 0

    single = figures["single"]
    assert single["runs"] == 1
    assert len(single["baseline_s"]) == len(single["storeplane_s"]) == 1
    # Both end points leave the same state behind: everything ready, on both sides.
    assert single["all_ready_at_end"] == {"baseline": 1, "storeplane": 1}, single["not_ready_at_end"]
    assert single["baseline_median_s"] > 0
    assert single["storeplane_median_s"] > 0
    assert isinstance(single["ratio"], float | int)

    [burst] = figures["bursts"]
    assert burst["stores"] == 2
    assert burst["concurrency"] == 4
    assert_burst_side(burst["baseline"])
    assert_burst_side(burst["storeplane"])
    assert burst["storeplane"]["cpu_s"]["storeplane"] > 0
    assert 0 < burst["storeplane"]["create_answer_p50_ms"] <= burst["storeplane"]["create_answer_p99_ms"]
    for key in ("total_ratio", "p50_ratio", "p99_ratio"):
        assert isinstance(burst[key], float | int), key
    during = burst["queries"]["during_burst"]
    assert during["count"] > 0
    assert during["errors"] == 0
    assert 0 < during["p50_ms"] <= during["p99_ms"] <= during["max_ms"]
    assert burst["queries"]["idle"]["count"] > 0
    assert set(figures["targets"]) == {"single_ratio", "burst_ratio", "query_p99_ms"}
    assert all(isinstance(target["met"], bool) for target in figures["targets"].values())
    assert figures["machine"]["nproc"] >= 1
    assert figures["duration_s"] > 0
    assert bench_pids(*MARKS) <= before, "the benchmark left a process behind"
