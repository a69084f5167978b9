"""What every resolver gets: the caller (None until authenticated), the services and the client's address."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from storeplane.auth.sessions import SessionStore
from storeplane.auth.tokens import Caller
from storeplane.engines.catalog import Catalog
from storeplane.events.bus import EventBus
from storeplane.events.records import EventRecord
from storeplane.graphql.errors import ClientError
from storeplane.lifespan_state import lifespan_state
from storeplane.stores.changes import StoreChanges
from storeplane.stores.owners import StoreOwners
from storeplane.stores.progress import StepTracker
from storeplane.stores.service import StoreService


@dataclass(frozen=True, kw_only=True)
class Services:
    catalog: Catalog
    stores: StoreService
    events: EventBus[EventRecord]
    changes: StoreChanges
    owners: StoreOwners
    tracker: StepTracker


@dataclass(kw_only=True)
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    services: Services
    caller: Caller | None = None
    # Filled by strawberry from the graphql-transport-ws connection_init payload.
    connection_params: dict[str, object] = field(default_factory=dict)

    @property
    def client_address(self) -> str | None:
        client = self.request.client
        return None if client is None else client.host


Info = strawberry.Info[Context, None]


def caller_of(info: Info) -> Caller:
    """The authenticated caller; the view refuses unauthenticated requests before any resolver runs."""
    caller = info.context.caller
    if caller is None:
        raise ClientError(
            "Authentication required: send 'Authorization: Bearer <token>'.", code="UNAUTHENTICATED"
        )
    return caller


def sessions_of(info: Info) -> SessionStore:
    """The dashboard's session store, from the lifespan state."""
    return lifespan_state(info.context.request.scope)["sessions"]
