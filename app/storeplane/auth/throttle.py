"""Failed sign-ins per client address per minute: past the limit, sign-in answers 429 for a while."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
# Addresses remembered at once; the least recently failing are forgotten first, so memory stays bounded.
MAX_ADDRESSES = 10_000


class SignInThrottle:
    def __init__(self, *, failures_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = failures_per_minute
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str | None) -> float | None:
        """Seconds until `address` may try again; None when it may now."""
        failures = self._recent(address)
        if failures is None or len(failures) < self._limit:
            return None
        return max(1.0, failures[0] + WINDOW_SECONDS - self._clock())

    def failed(self, address: str | None) -> None:
        key = address or "?"
        failures = self._recent(address)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self._limit)
        failures.append(self._clock())
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)

    def _recent(self, address: str | None) -> deque[float] | None:
        failures = self._failures.get(address or "?")
        if failures is None:
            return None
        horizon = self._clock() - WINDOW_SECONDS
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures
