"""Backoff: exponential delays with jitter under a RetryPolicy."""

from __future__ import annotations

import random

from storeplane.k8s.backoff import Backoff, RetryPolicy


def test_backoff_grows_by_its_factor_up_to_its_cap_with_jitter_below_and_resets() -> None:
    backoff = Backoff(RetryPolicy(initial=1.0, max=5.0, factor=2.0, jitter=0.5), rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 5, 5, 5], strict=True):
        assert base * 0.5 <= delay <= base
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_backoff_without_jitter_is_exact() -> None:
    backoff = Backoff(RetryPolicy(initial=0.5, max=3.0, factor=3.0, jitter=0.0))
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 1.5, 3.0, 3.0]


def test_backoff_stays_at_its_cap_through_a_very_long_outage() -> None:
    # factor**failures would overflow a float after about a thousand failures if the count kept growing.
    backoff = Backoff(RetryPolicy(initial=0.5, max=30.0, factor=2.0, jitter=0.0))
    delays = [backoff.next_delay() for _ in range(5000)]
    assert delays[-1] == 30.0
