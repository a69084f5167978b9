"""Figures shared by the benchmarks: percentiles, process RSS and CPU share."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the value below which `fraction` of the sample lies); 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(fraction * len(ordered))) - 1)]


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB, from /proc (Linux only)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from /proc/<pid>/stat."""
    # The command name (field 2) may hold spaces; utime and stime are fields 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """Share of one core kubesim and this client used between start() and stop(), in percent."""

    pid: int
    kubesim_pct: float = 0.0
    client_pct: float = 0.0
    _start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def start(self) -> None:
        self._start = (time.perf_counter(), cpu_seconds(self.pid), time.process_time())

    def stop(self) -> None:
        wall = time.perf_counter() - self._start[0]
        if wall > 0:
            self.kubesim_pct = round(100 * (cpu_seconds(self.pid) - self._start[1]) / wall, 1)
            self.client_pct = round(100 * (time.process_time() - self._start[2]) / wall, 1)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def children_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process's reaped children (cutime + cstime), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
