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


async def retrying(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    policy: RetryPolicy,
    on_retry: Callable[[BaseException, int], Awaitable[None]] | None = None,
) -> T:
    """Run `operation` until it succeeds or fails for good; no deadline of its own (wrap it in one).

    `on_retry(error, attempt)` runs before each wait (attempt 1 is the first retry), e.g. to tell a user why
    their store waits.
    """
    delays = Backoff(policy)
    attempt = 0
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            attempt += 1
            delay = delays.next_delay()
            log.warning("%s failed (%s); retrying in %.2fs", what, describe(exc), delay)
            if on_retry is not None:
                await on_retry(exc, attempt)
            await asyncio.sleep(delay)
