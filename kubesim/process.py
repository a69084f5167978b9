"""Run kubesim as a separate process, as tests, benchmarks and the demo do."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class KubesimProcess:
    """A kubesim child process in its own process group, reachable through `kubeconfig`."""

    kubeconfig: Path
    profile: str = "test"
    delays: dict[str, float] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        config = yaml.safe_load(self.kubeconfig.read_text())
        return str(config["clusters"][0]["cluster"]["server"])

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self, *, timeout: float = 30.0) -> None:
        """Start the process and return once it has written its kubeconfig (it serves by then)."""
        self.kubeconfig.unlink(missing_ok=True)
        args = [sys.executable, "-m", "kubesim", "--port", "0", "--kubeconfig", str(self.kubeconfig)]
        args += ["--profile", self.profile, *self.extra_args]
        for name, seconds in self.delays.items():
            args += ["--delay", f"{name}={seconds}"]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            # A new session (and so a new process group) lets stop() reach anything it spawned.
            self._proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"kubesim exited with {self._proc.returncode} before serving (log: {self.log_path})"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"kubesim did not write {self.kubeconfig} within {timeout}s")
            time.sleep(0.02)

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def __enter__(self) -> KubesimProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
