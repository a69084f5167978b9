"""kubesim as a process: it writes its kubeconfig once serving and leaves nothing behind when stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import yaml

from kubesim.process import KubesimProcess


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_kubesim_serves_at_the_address_its_kubeconfig_names_and_stops_cleanly(tmp_path: Path) -> None:
    sim = KubesimProcess(kubeconfig=tmp_path / "kubeconfig", log_path=tmp_path / "kubesim.log")
    sim.start()
    try:
        config = yaml.safe_load(sim.kubeconfig.read_text())
        assert config["current-context"] == "kubesim"
        assert sim.url.startswith("http://127.0.0.1:")
        assert (sim.kubeconfig.stat().st_mode & 0o777) == 0o600
        async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/version") as response:
            assert response.status == 200
            assert (await response.json())["gitVersion"].startswith("v1.")
        pid = sim.pid
    finally:
        sim.stop()
    assert not _group_alive(pid)
    assert "kubesim serving" in (tmp_path / "kubesim.log").read_text()


def test_sigterm_ends_kubesim_with_exit_code_zero(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubesim", "--port", "0", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kubeconfig.exists()
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_an_unknown_delay_name_is_a_clear_startup_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubesim", "--kubeconfig", str(tmp_path / "k"), "--delay", "warp=1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "warp" in result.stderr
    assert not (tmp_path / "k").exists()
