"""How long to wait before trying again: a retry policy and the exponential Backoff that follows it."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, for watches and for retried cluster calls alike."""

    initial: float = 0.5
    """Delay before the first retry after a failure."""
    max: float = 30.0
    """Longest delay between retries."""
    factor: float = 2.0
    """Multiplier applied to the delay after each further consecutive failure."""
    jitter: float = 0.5
    """Fraction of each delay drawn at random, so that many clients do not retry in lockstep."""


class Backoff:
    """Exponential delays with jitter: initial, times factor per failure, capped at max; reset on success."""

    def __init__(self, policy: RetryPolicy, *, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._rng = rng or random.Random()
        self._failures = 0

    def next_delay(self) -> float:
        p = self.policy
        base = min(p.max, p.initial * p.factor**self._failures)
        # Counting stops at the cap: the delay no longer grows there, and factor**failures would overflow a
        # float after about a thousand failures (some eight hours of outage at a 30 s cap).
        if base < p.max:
            self._failures += 1
        return base * (1.0 - p.jitter * self._rng.random())

    def reset(self) -> None:
        self._failures = 0
