"""`storeplane serve` with a bad setting: a clear message naming the variable, no traceback, no secret."""

from __future__ import annotations

import os
import sys

from tests.helpers import REPO, run


async def test_a_bad_setting_names_its_variable_and_prints_no_traceback() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOREPLANE_")}
    env |= {
        "STOREPLANE_PORT": "eighty",
        "STOREPLANE_PROVISIONING_CONCURRENCY": "0",
        "STOREPLANE_API_TOKENS": "hunter2:alice,other-secret-token-123:alice",
    }
    env["PYTHONPATH"] = str(REPO)
    result = await run([sys.executable, "-m", "storeplane.cli", "serve"], env=env, timeout=60.0)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "storeplane: invalid settings:"
    assert any(line.startswith("  STOREPLANE_PORT: ") for line in lines)
    assert any(line.startswith("  STOREPLANE_PROVISIONING_CONCURRENCY: ") for line in lines)
    assert any("STOREPLANE_API_TOKENS" in line and "under 16 characters" in line for line in lines)
    assert "hunter2" not in result.stderr
    assert "other-secret-token" not in result.stderr
