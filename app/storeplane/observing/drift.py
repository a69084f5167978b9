"""Drift of a Ready store, judged from what the watches show. Pure: the reconciler keeps the clock.

- its namespace, helm release, a workload or its ingress gone -> fail at once, naming what is gone;
- a workload present but not ready -> suspect; still not ready `grace` seconds later -> fail, naming the pod.
  The grace keeps a rolling restart or a rescheduled pod from failing a healthy store.
"""

from __future__ import annotations

from dataclasses import dataclass

from storeplane.observing.readiness import Assessment
from storeplane.stores.models import StoreStatus
from storeplane.stores.records import StoreRecord


@dataclass(frozen=True)
class Drift:
    failure: str | None = None
    """Fail the store now, with this reason."""
    due: float | None = None
    """Suspect: judge again at this time (None: not suspect, forget any earlier suspicion)."""


HEALTHY = Drift()


def judge_drift(
    store: StoreRecord | None, assessment: Assessment | None, *, due: float | None, now: float, grace: float
) -> Drift:
    """The verdict for `store` now; `due` is the time an earlier verdict asked to judge it again."""
    if store is None or store.status != StoreStatus.READY or assessment is None:
        return HEALTHY
    if assessment.missing:
        return Drift(failure="Drift: " + "; ".join(assessment.missing))
    if not assessment.unready_workloads:
        return HEALTHY
    due = now + grace if due is None else due
    if due <= now:
        return Drift(failure=f"Drift: not ready for {grace:g}s: {'; '.join(assessment.unready_workloads)}")
    return Drift(due=due)
