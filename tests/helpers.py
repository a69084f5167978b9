"""Shared test helpers: running real binaries in their own process groups, waiting for conditions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
TOOLS_BIN = REPO / ".tools" / "bin"

T = TypeVar("T")


def find_tool(name: str) -> str:
    """The project's pinned binary from .tools/bin, else one on PATH; fails loudly when missing."""
    local = TOOLS_BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run scripts/install-tools")
    return found


@dataclass(frozen=True)
class Result:
    """What a finished process left behind."""

    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Result:
        if self.returncode != 0:
            raise AssertionError(
                f"{' '.join(self.args)} exited {self.returncode}\n{self.stdout}\n{self.stderr}"
            )
        return self


async def run(
    args: Sequence[str], *, env: Mapping[str, str], timeout: float = 120.0, stdin: bytes | None = None
) -> Result:
    """Run a binary in its own process group; kill the group on timeout or cancellation."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(list(args), proc.returncode, out.decode(), err.decode())


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
        await asyncio.sleep(interval)
