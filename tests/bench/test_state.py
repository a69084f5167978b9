"""The state benchmark still runs and prints well-formed figures (how fast is never checked here)."""

from __future__ import annotations

from tests.bench.smoke_helpers import assert_spread, bench_pids, run_bench

# The processes a run starts: kubesim and Storeplane by their folder, the client processes by module.
MARKS = (b"/state-bench-", b"bench.state_clients")

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


async def test_state_bench_prints_one_json_line_with_its_figures() -> None:
    before = bench_pids(*MARKS)
    # 150 stores, so that the owner has more than one page of live stores (cursor pages are read too).
    args = ["--stores", "150", "--events", "1500"]
    args += ["--subscribers", "5", "--samples", "10", "--warmup", "2", "--pages", "3"]
    stdout, figures = await run_bench("state", args, timeout=120.0)
    assert "stores_first_page" in stdout  # the human table precedes it
    assert figures["benchmark"] == "state"
    assert (figures["stores"], figures["events"], figures["subscribers"]) == (150, 1500, 5)
    assert sum(figures["statuses"].values()) == 150
    assert set(figures["statuses"]) <= {"Failed", "Deleted"}  # the two states the server leaves alone
    assert 50 < figures["owner_live"] <= figures["owner_stores"] < 150
    assert set(figures["reads"]) == set(READS)
    for name, read in figures["reads"].items():
        assert_spread(read["graphql"])
        assert_spread(read["sql"])
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
    assert bench_pids(*MARKS) <= before, "the benchmark left a process behind"
