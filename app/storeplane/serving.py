"""uvicorn's configuration for the app, from the settings: the one `storeplane serve` and the tests run."""

from __future__ import annotations

from typing import Any

import uvicorn
from starlette.types import ASGIApp

from storeplane.access_log import hide_query_strings
from storeplane.settings import Settings


def uvicorn_config(app: ASGIApp, settings: Settings, *, host: str, port: int, **extra: Any) -> uvicorn.Config:
    hide_query_strings()
    trusted = settings.forwarded_allow_ips
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        # The sans-I/O implementation of the websockets library (its legacy one is deprecated).
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_message_bytes,
        # Compression state costs ~45 KiB per websocket; events are small and mostly go to a LAN.
        ws_per_message_deflate=False,
        limit_concurrency=settings.http_limit_concurrency,
        # X-Forwarded-For/-Proto count only from the proxies named in the settings; uvicorn's own default
        # trusts 127.0.0.1, which would let any local process choose the audit log's client address.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        log_config=None,
        **extra,
    )
