"""Where the checkout is: the one place that knows the source layout (app/storeplane/ below the root)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root when running from a checkout; meaningless when installed (see is_checkout)."""


def is_checkout(root: Path = REPO_ROOT) -> bool:
    return (root / "pyproject.toml").is_file() and (root / "app" / "storeplane").is_dir()
