from __future__ import annotations

import strawberry

from storeplane.stores.progress import ResourceState


@strawberry.type(description="A Kubernetes object of a store, as the watches last saw it.")
class KubernetesResource:
    kind: str
    name: str
    state: str = strawberry.field(
        description="ready, unready, Bound, Pending, Complete, Failed, Succeeded or exists, by kind."
    )

    @classmethod
    def from_model(cls, resource: ResourceState) -> KubernetesResource:
        return cls(kind=resource.kind, name=resource.name, state=resource.state)
