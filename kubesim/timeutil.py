"""Timestamps in the API's format."""

from __future__ import annotations

from datetime import UTC, datetime


def now_rfc3339() -> str:
    """Now as metav1.Time serialises it: second precision, Z suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """Now as metav1.MicroTime serialises it (events.k8s.io eventTime, Lease times)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
