"""Provisioning progress: which of the engine's steps (charts/engines.yaml) a store has done."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storeplane.engines.catalog import Catalog
from storeplane.stores.records import StoreRecord, StoreStatus


@dataclass(frozen=True)
class StepState:
    id: str
    title: str
    done: bool


@dataclass(frozen=True)
class StoreProgress:
    steps: list[StepState]

    @property
    def done(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def total(self) -> int:
        return len(self.steps)


class ResourceState(Protocol):
    """One Kubernetes object of a store as the watch cache last saw it."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...


class StepTracker(Protocol):
    """Knows which steps are done; the observer implements it from its watch cache (in memory, no I/O)."""

    @property
    def features(self) -> frozenset[str]:
        """The environment's features (engines.yaml `when`): a step that needs another one is not listed."""

    def steps_done(self, store: StoreRecord) -> frozenset[str] | None:
        """The ids of the done steps, or None when it knows nothing of this store."""

    def resources(self, store_id: str) -> Sequence[ResourceState]:
        """The store's Kubernetes objects with their state; empty when nothing is known."""


class StatusOnlyTracker:
    """The fallback before any watch has seen the store: all steps done once Ready, none before."""

    @property
    def features(self) -> frozenset[str]:
        return frozenset()  # no cluster: nothing known of TLS or cert-manager, only the unconditional steps

    def steps_done(self, store: StoreRecord) -> frozenset[str] | None:
        return None

    def resources(self, store_id: str) -> Sequence[ResourceState]:
        return []


def store_progress(*, store: StoreRecord, catalog: Catalog, tracker: StepTracker) -> StoreProgress:
    engine = catalog.get(store.engine)
    if engine is None:
        return StoreProgress(steps=[])
    steps = engine.steps_for(tracker.features)
    done = tracker.steps_done(store)
    if done is None:
        everything = store.status == StoreStatus.READY
        done = frozenset(step.id for step in steps) if everything else frozenset()
    return StoreProgress(steps=[StepState(step.id, step.title, step.id in done) for step in steps])
