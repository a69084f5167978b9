"""The Tortoise configuration, built from Settings. The database URL alone selects SQLite or PostgreSQL.

The `tortoise` CLI reads `storeplane.db.config.TORTOISE_ORM` (built from the environment on first access):

    .venv/bin/tortoise -c storeplane.db.config.TORTOISE_ORM makemigrations
    .venv/bin/tortoise -c storeplane.db.config.TORTOISE_ORM migrate
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from storeplane.settings import Settings

APP_LABEL = "storeplane"
MODEL_MODULES = [
    "storeplane.stores.models",
    "storeplane.events.models",
    "storeplane.audit.models",
    "storeplane.auth.models",
]
MIGRATIONS_MODULE = "storeplane.migrations"


def sqlite_path(database_url: str) -> str:
    """The file of a sqlite:// URL (as Tortoise reads it: `sqlite:///abs/path` or `sqlite://rel/path`)."""
    parts = urlsplit(database_url)
    return parts.netloc + parts.path


def connection_config(settings: Settings) -> str | dict[str, Any]:
    if not settings.is_sqlite:
        # postgres:// and postgresql:// go to Tortoise unchanged (asyncpg backend).
        return settings.database_url
    return {
        "engine": "tortoise.backends.sqlite",
        "credentials": {
            "file_path": sqlite_path(settings.database_url),
            # Tortoise's SQLite client runs `PRAGMA key=value` for each of these on every connection it opens.
            # WAL lets readers (queries, replays) proceed while the event writer commits; NORMAL is durable in
            # WAL mode except for the last transactions on power loss, which the reconciler tolerates.
            "journal_mode": "WAL",
            "synchronous": "NORMAL",
            "foreign_keys": "ON",
            # Another process (the tortoise CLI, a backup) may hold the lock briefly.
            "busy_timeout": settings.database_busy_timeout_ms,
        },
    }


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(settings)},
        "apps": {
            APP_LABEL: {
                "models": list(MODEL_MODULES),
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # Lazy, so that importing this module never reads the environment; only the CLI asks for it.
    if name == "TORTOISE_ORM":
        return tortoise_config(Settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
