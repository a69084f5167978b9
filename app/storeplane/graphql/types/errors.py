"""The typed errors that mutations return (expected failures are values, not exceptions)."""

from __future__ import annotations

import strawberry

from storeplane.graphql.types.enums import StoreStatus, mirror
from storeplane.stores import service


@strawberry.interface(description="An expected failure; `message` is written for people.")
class Error:
    message: str


@strawberry.type(description="An input broke a rule; `field` names the input, `rule` the rule.")
class ValidationError(Error):
    field: str
    rule: str

    @classmethod
    def from_model(cls, value: service.InvalidInput) -> ValidationError:
        return cls(field=value.field, rule=value.rule, message=value.message)


@strawberry.type(description="A live store already has this name.")
class NameTaken(Error):
    name: str

    @classmethod
    def from_model(cls, value: service.NameTaken) -> NameTaken:
        return cls(name=value.name, message=f"The store name {value.name!r} is taken: choose another.")


@strawberry.type(description="The caller has as many live stores as they may.")
class QuotaExceeded(Error):
    limit: int

    @classmethod
    def from_model(cls, value: service.QuotaExceeded) -> QuotaExceeded:
        return cls(
            limit=value.limit, message=f"You have {value.limit} stores, the most allowed: delete one first."
        )


@strawberry.type(description="No engine has this key.")
class UnknownEngine(Error):
    engine: str
    known: list[str]

    @classmethod
    def from_model(cls, value: service.UnknownEngine) -> UnknownEngine:
        return cls(
            engine=value.engine,
            known=value.known,
            message=f"Unknown engine {value.engine!r}; known engines: {', '.join(value.known)}.",
        )


@strawberry.type(description="Nothing with this id (a store, a session) is visible to the caller.")
class NotFound(Error):
    id: strawberry.ID

    @classmethod
    def from_model(cls, value: service.StoreNotFound) -> NotFound:
        return cls(id=strawberry.ID(value.id), message="No such store.")


@strawberry.type(description="The store's status does not allow the action.")
class InvalidState(Error):
    id: strawberry.ID
    status: StoreStatus
    action: str

    @classmethod
    def from_model(cls, value: service.InvalidState) -> InvalidState:
        return cls(
            id=strawberry.ID(value.id),
            status=mirror(value.status, StoreStatus),
            action=value.action,
            message=f"Cannot {value.action} a store that is {value.status.value}.",
        )
