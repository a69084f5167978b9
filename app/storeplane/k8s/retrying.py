"""Riding out cluster faults: a call is retried with backoff while it fails transiently (`is_transient`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from storeplane.k8s.backoff import Backoff, RetryPolicy
from storeplane.k8s.errors import describe, is_transient

log = logging.getLogger(__name__)
T = TypeVar("T")


async def retrying(operation: Callable[[], Awaitable[T]], *, what: str, policy: RetryPolicy) -> T:
    """Run `operation` until it succeeds or fails for good; no deadline of its own (wrap it in one)."""
    delays = Backoff(policy)
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = delays.next_delay()
            log.warning("%s failed (%s); retrying in %.2fs", what, describe(exc), delay)
            await asyncio.sleep(delay)
