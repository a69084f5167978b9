"""The session-cost benchmark still runs and prints well-formed figures (how fast is never checked here)."""

from __future__ import annotations

from tests.bench.smoke_helpers import bench_pids, run_bench

MARKS = (b"/storeplane-auth-cost-",)


async def test_auth_cost_bench_prints_one_json_line_with_its_figures() -> None:
    before = bench_pids(*MARKS)
    stdout, figures = await run_bench("auth_cost", ["--requests", "20", "--stores", "3"], timeout=120.0)
    assert "cookie / bearer" in stdout
    assert figures["benchmark"] == "auth_cost"
    assert (figures["requests"], figures["stores"]) == (20, 3)
    for way in ("bearer", "cookie"):
        assert 0 < figures[way]["p50_ms"] <= figures[way]["p99_ms"]
    assert figures["ratio_p50"] > 0
    assert bench_pids(*MARKS) <= before  # kubesim and Storeplane stopped with it
