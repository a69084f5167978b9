"""Injected faults: what the control plane's failure tests ask kubesim to break."""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from typing import Any

ACTIONS = (
    "never-ready",
    "crash-loop",
    "fail-job",
    "pvc-pending",
    "image-pull-error",
    "certificate-pending",
)
# How an outage answers, each as a real API server does (server.py): a ServiceUnavailable Status, etcd timing
# out behind it, max-in-flight throttling with Retry-After, or no listener at all while it restarts.
OUTAGE_KINDS = ("unavailable", "etcd", "throttled", "restart")


@dataclass(frozen=True)
class Rule:
    """Break objects whose namespace and name match these globs in the way `action` says."""

    action: str
    namespace: str = "*"
    name: str = "*"

    def matches(self, action: str, namespace: str, name: str) -> bool:
        return (
            self.action == action
            and fnmatch.fnmatchcase(namespace, self.namespace)
            and fnmatch.fnmatchcase(name, self.name)
        )

    def to_json(self) -> dict[str, str]:
        return {"action": self.action, "namespace": self.namespace, "name": self.name}


@dataclass
class Faults:
    """The fault state consulted by the HTTP layer and the simulated controllers."""

    rules: list[Rule] = field(default_factory=list)
    latency: float = 0.0
    outage_until: float = 0.0
    outage_code: int = 503
    outage_kind: str | None = None
    """One of OUTAGE_KINDS, or None for a bare `outage_code` answer."""

    def add(self, rule: Rule) -> None:
        if rule.action not in ACTIONS:
            raise ValueError(f"unknown fault action {rule.action!r}; known: {', '.join(ACTIONS)}")
        self.rules.append(rule)

    def active(self, action: str, namespace: str, *names: str) -> bool:
        """Whether any rule breaks an object with one of these names (a pod or the workload owning it)."""
        return any(rule.matches(action, namespace, name) for rule in self.rules for name in names)

    def clear(self) -> None:
        self.rules.clear()
        self.latency = 0.0
        self.outage_until = 0.0

    def start_outage(self, seconds: float, code: int, kind: str | None = None) -> None:
        if kind is not None and kind not in OUTAGE_KINDS:
            raise ValueError(f"unknown outage kind {kind!r}; known: {', '.join(OUTAGE_KINDS)}")
        self.outage_until = time.monotonic() + seconds
        self.outage_code = code
        self.outage_kind = kind

    def in_outage(self) -> bool:
        return time.monotonic() < self.outage_until

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": [r.to_json() for r in self.rules],
            "latency": self.latency,
            "outageRemaining": max(0.0, self.outage_until - time.monotonic()),
            "outageCode": self.outage_code,
            "outageKind": self.outage_kind,
        }
