from __future__ import annotations

import strawberry

from storeplane.engines.catalog import Engine as EngineModel


@strawberry.type(description="A provisioning step of an engine, in the order they happen.")
class EngineStep:
    id: str
    title: str


@strawberry.type(description="Something a store can be built from (charts/engines.yaml).")
class Engine:
    key: str = strawberry.field(description="Pass as `engine` to createStore.")
    display_name: str
    description: str
    steps: list[EngineStep]

    @classmethod
    def from_model(cls, engine: EngineModel, *, features: frozenset[str]) -> Engine:
        """`features`: the environment's; the steps listed are those a store here goes through."""
        return cls(
            key=engine.key,
            display_name=engine.display_name,
            description=engine.description,
            steps=[EngineStep(id=step.id, title=step.title) for step in engine.steps_for(features)],
        )
