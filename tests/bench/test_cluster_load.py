"""The cluster-load benchmark still runs and prints well-formed figures (never how much load it finds)."""

from __future__ import annotations

from tests.bench.smoke_helpers import bench_pids, run_bench

# The processes a run starts: kubesim and Storeplane by their folder, the client processes by module.
MARKS = (b"/cluster-load-",)


async def test_cluster_load_prints_one_json_line_with_its_figures() -> None:
    before = bench_pids(*MARKS)
    args = ["--stores", "3", "--baseline-stores", "1"]
    args += ["--window", "3", "--lifecycles", "1", "--settle", "0.5"]
    stdout, figures = await run_bench("cluster_load", args, timeout=120.0)
    assert "open watches" in stdout  # the human table precedes it
    assert figures["benchmark"] == "cluster_load"
    assert (figures["stores"], figures["baseline_stores"], figures["window_s"]) == (3, 1, 3.0)
    base, loaded = figures["window"]["baseline"], figures["window"]["loaded"]
    assert (base["stores"], loaded["stores"]) == (1, 3), "every store reached Ready"
    for window in (base, loaded):
        assert window["seconds"] >= 3.0
        assert 0 < window["open_watches_min"] <= window["open_watches_max"]
        assert sum(window["open_watches_by_resource"].values()) >= window["open_watches_max"]
        # The totals agree with the per-kind counts they summarise (keys are "<verb> <resource>").
        by_kind = window["requests"]
        assert window["storeplane_requests"] == sum(by_kind.values())
        get_list = sum(n for kind, n in by_kind.items() if kind.split()[0] in ("get", "list"))
        assert window["storeplane_get_list"] == get_list
        assert window["storeplane_watch_requests"] == sum(
            n for kind, n in by_kind.items() if kind.startswith("watch ")
        )
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
    assert bench_pids(*MARKS) <= before, "the benchmark left a process behind"
