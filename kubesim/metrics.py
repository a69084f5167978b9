"""Request counters for tests and benchmarks (who asked the API for what, and how often)."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Metrics:
    """Counts requests by verb, resource and user agent."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()

    def count(self, verb: str, resource: str, user_agent: str) -> None:
        self.requests[(verb, resource, _product(user_agent))] += 1

    def reset(self) -> None:
        self.requests.clear()

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"verb": verb, "resource": resource, "userAgent": agent, "count": count}
            for (verb, resource, agent), count in sorted(self.requests.items())
        ]


def _product(user_agent: str) -> str:
    # "kubectl/v1.34.5 (linux/amd64) kubernetes/abc" -> "kubectl/v1.34.5": enough to tell clients apart.
    return user_agent.split(" ", 1)[0] if user_agent else "unknown"
