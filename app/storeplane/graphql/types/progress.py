from __future__ import annotations

import strawberry

from storeplane.stores.progress import StoreProgress as StoreProgressValue


@strawberry.type(description="One of the engine's provisioning steps (charts/engines.yaml).")
class ProgressStep:
    id: str
    title: str
    done: bool


@strawberry.type(description="Steps done of the engine's known steps.")
class StoreProgress:
    done: int
    total: int
    steps: list[ProgressStep]

    @classmethod
    def from_model(cls, progress: StoreProgressValue) -> StoreProgress:
        return cls(
            done=progress.done,
            total=progress.total,
            steps=[ProgressStep(id=step.id, title=step.title, done=step.done) for step in progress.steps],
        )
