"""What every benchmark smoke test does: run it small, read its JSON line, find what it left running."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.helpers import REPO, run


def bench_pids(*marks: bytes) -> set[int]:
    """Processes whose arguments or environment hold one of `marks` (a run's folder, a client module)."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes()
            # Storeplane's command line is like any other's: its data folder is in its environment.
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue  # it exited while we looked, or is not ours to read
        if any(mark in args or mark in environ for mark in marks):
            pids.add(int(proc.name))
    return pids


async def run_bench(
    module: str, args: Sequence[str], *, timeout: float = 120.0
) -> tuple[str, dict[str, Any]]:
    """Run `python -m bench.<module> ARGS`; its stdout and its figures (the last line, the only JSON one)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = (await run([sys.executable, "-m", f"bench.{module}", *args], env=env, timeout=timeout)).check()
    lines = result.stdout.strip().splitlines()
    figures: dict[str, Any] = json.loads(lines[-1])
    assert not any(line.startswith("{") for line in lines[:-1]), "exactly one JSON line"
    assert figures["machine"]["nproc"] >= 1
    assert figures["duration_s"] > 0
    return result.stdout, figures


def assert_spread(figures: dict[str, Any]) -> None:
    """A p50 / p99 / max triple: numbers, not negative, in order."""
    for key in ("p50", "p99", "max"):
        assert isinstance(figures[key], float | int), key
        assert figures[key] >= 0, key
    assert figures["p50"] <= figures["p99"] <= figures["max"]
