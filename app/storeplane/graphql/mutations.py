"""Mutation root: each mutation returns a union of its success payload and the typed errors it can meet."""

from __future__ import annotations

from typing import Annotated

import strawberry

from storeplane.auth.sessions import is_session_id
from storeplane.graphql.context import Info, caller_of, sessions_of
from storeplane.graphql.types.errors import (
    InvalidState,
    NameTaken,
    NotFound,
    QuotaExceeded,
    UnknownEngine,
    ValidationError,
)
from storeplane.graphql.types.store import Store
from storeplane.stores import service
from storeplane.stores.records import StoreRecord


@strawberry.input
class CreateStoreInput:
    name: str = strawberry.field(description="DNS label, 1-40 characters; also the store's host name.")
    engine: str = strawberry.field(description="An engine key from `engines`.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeating a create with the same key returns the store it created."
    )


@strawberry.type
class CreateStoreSuccess:
    store: Store


@strawberry.type
class DeleteStoreSuccess:
    store: Store


@strawberry.type
class RetryStoreSuccess:
    store: Store


@strawberry.type
class RevokeSessionSuccess:
    id: strawberry.ID = strawberry.field(description="The revoked session; its websockets are closed (4403).")


CreateStoreResult = Annotated[
    CreateStoreSuccess | ValidationError | NameTaken | QuotaExceeded | UnknownEngine,
    strawberry.union("CreateStoreResult"),
]
DeleteStoreResult = Annotated[
    DeleteStoreSuccess | NotFound | InvalidState, strawberry.union("DeleteStoreResult")
]
RetryStoreResult = Annotated[
    RetryStoreSuccess | NotFound | InvalidState, strawberry.union("RetryStoreResult")
]

RevokeSessionResult = Annotated[RevokeSessionSuccess | NotFound, strawberry.union("RevokeSessionResult")]


def _change_error(result: service.StoreNotFound | service.InvalidState) -> NotFound | InvalidState:
    if isinstance(result, service.StoreNotFound):
        return NotFound.from_model(result)
    return InvalidState.from_model(result)


async def resolve_create_store(info: Info, input: CreateStoreInput) -> CreateStoreResult:
    result = await info.context.services.stores.create_store(
        owner=caller_of(info).owner,
        name=input.name,
        engine=input.engine,
        idempotency_key=input.idempotency_key,
        client_address=info.context.client_address,
    )
    match result:
        case StoreRecord():
            return CreateStoreSuccess(store=Store.from_record(result))
        case service.InvalidInput():
            return ValidationError.from_model(result)
        case service.NameTaken():
            return NameTaken.from_model(result)
        case service.QuotaExceeded():
            return QuotaExceeded.from_model(result)
        case service.UnknownEngine():
            return UnknownEngine.from_model(result)


async def resolve_delete_store(info: Info, id: strawberry.ID) -> DeleteStoreResult:
    result = await info.context.services.stores.delete_store(
        owner=caller_of(info).owner, id=id, client_address=info.context.client_address
    )
    if isinstance(result, StoreRecord):
        return DeleteStoreSuccess(store=Store.from_record(result))
    return _change_error(result)


async def resolve_retry_store(info: Info, id: strawberry.ID) -> RetryStoreResult:
    result = await info.context.services.stores.retry_store(
        owner=caller_of(info).owner, id=id, client_address=info.context.client_address
    )
    if isinstance(result, StoreRecord):
        return RetryStoreSuccess(store=Store.from_record(result))
    return _change_error(result)


async def resolve_revoke_session(info: Info, id: strawberry.ID) -> RevokeSessionResult:
    owner = caller_of(info).owner
    if is_session_id(id) and await sessions_of(info).revoke(owner=owner, id=id):
        return RevokeSessionSuccess(id=id)
    return NotFound(id=id, message="No such session.")


@strawberry.type
class Mutation:
    create_store: CreateStoreResult = strawberry.mutation(
        resolver=resolve_create_store,
        description="Create a store; it starts Pending and is provisioned in the background.",
    )
    delete_store: DeleteStoreResult = strawberry.mutation(
        resolver=resolve_delete_store,
        description="Delete a store in any state; it goes Deleting, then Deleted once everything is gone. "
        "Repeating it while Deleting returns the store; on a Deleted store it is InvalidState.",
    )
    retry_store: RetryStoreResult = strawberry.mutation(
        resolver=resolve_retry_store, description="Provision a Failed store again."
    )
    revoke_session: RevokeSessionResult = strawberry.mutation(
        resolver=resolve_revoke_session,
        description="Sign a dashboard session out (one of `mySessions`); its cookie stops working at once.",
    )
