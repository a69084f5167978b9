"""A URL as it may be shown: in a sentence, a log line or a refusal, never with its secrets."""

from __future__ import annotations

from urllib.parse import urlsplit


def public_url(url: str) -> str:
    """The URL without its password and query string (where connection options and secrets may hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{'' if port is None else f':{port}'}{parts.path}"
