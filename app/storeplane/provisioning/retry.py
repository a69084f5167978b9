"""Riding out cluster faults: transient failures are retried with backoff until the caller's deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from kubernetes_asyncio.client import ApiException

from storeplane.k8s.errors import ClusterUnreachable, HelmTimeout, OperationInProgress
from storeplane.k8s.watching import Backoff, WatchSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """An API outage, a dropped connection, a helm killed by our deadline or a release held mid-operation."""
    if isinstance(exc, ApiException):
        return exc.status is not None and (exc.status == 429 or exc.status >= 500)
    return isinstance(
        exc,
        ClusterUnreachable
        | HelmTimeout
        | OperationInProgress
        | aiohttp.ClientError
        | ConnectionError
        | TimeoutError,
    )


async def retrying(operation: Callable[[], Awaitable[T]], *, what: str, backoff: WatchSettings) -> T:
    """Run `operation` until it succeeds or fails for good; no deadline of its own (wrap it in one)."""
    delays = Backoff(backoff)
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = delays.next_delay()
            log.warning("%s failed (%s); retrying in %.2fs", what, exc, delay)
            await asyncio.sleep(delay)
