"""The event latency benchmark still runs and prints well-formed figures (how fast is never checked here)."""

from __future__ import annotations

from tests.bench.smoke_helpers import assert_spread, bench_pids, run_bench

# The processes a run starts: kubesim and Storeplane by their folder, the client processes by module.
MARKS = (b"/event-latency-", b"bench.event_clients")

# What marks the processes a run starts (kubesim and Storeplane by their folder, the client processes).
MARKS = (b"/event-latency-", b"bench.event_clients")


async def test_event_latency_prints_one_json_line_with_its_figures() -> None:
    before = bench_pids(*MARKS)
    args = ["--subscribers", "1,3", "--seconds", "1"]
    args += ["--rate", "20", "--poll-interval", "1"]
    stdout, figures = await run_bench("event_latency", args, timeout=120.0)
    assert "poll staleness" in stdout  # the human table precedes it
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
    assert bench_pids(*MARKS) <= before, "the benchmark left a process behind"
