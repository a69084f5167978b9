"""Running the `storeplane` command as a person does: its own process, none of this machine's settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.helpers import REPO, Result, run


async def storeplane(*args: str, home: Path, variables: Mapping[str, str], timeout: float = 60.0) -> Result:
    """`python -m storeplane.cli ARGS`; of the STOREPLANE_*/KUBE* variables only `variables`; HOME `home`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STOREPLANE_", "KUBE"))}
    env |= {"PYTHONPATH": str(REPO), "HOME": str(home), **variables}
    return await run([sys.executable, "-m", "storeplane.cli", *args], env=env, timeout=timeout)
