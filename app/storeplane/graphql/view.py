"""The ASGI GraphQL endpoint: Strawberry's view plus authentication for HTTP and websockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from storeplane.auth.callers import caller_in
from storeplane.auth.tokens import connection_params_token
from storeplane.graphql.context import Context
from storeplane.graphql.ide import ide_response
from storeplane.lifespan_state import lifespan_state
from storeplane.sockets import socket_of

UNAUTHENTICATED = (
    "Authentication required: send 'Authorization: Bearer <token>' "
    "(without STOREPLANE_API_TOKENS, the server log says which file holds the development token)."
)


class GraphQLApp(GraphQL[Context, None]):
    """GraphiQL and the graphql-transport-ws protocol on one path; every operation needs a bearer token.

    The services and the tokens come from the lifespan state of each request (lifespan_state.py).
    """

    def __init__(self, *, ide_page: Path, **kwargs: Any) -> None:
        """`ide_page` is the bundle's `graphiql.html`: browsers get it instead of Strawberry's CDN page."""
        super().__init__(subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), **kwargs)
        self._ide_page = ide_page

    async def render_graphql_ide(self, request: Request) -> Response:
        return ide_response(self._ide_page, request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            # GraphiQL's page itself needs no token: its requests carry the session cookie or typed headers.
            wants_ide = self.should_render_graphql_ide(self.request_adapter_class(request))
            if not wants_ide and caller_in(scope) is None:
                response = JSONResponse(
                    {"errors": [{"message": UNAUTHENTICATED, "extensions": {"code": "UNAUTHENTICATED"}}]},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="storeplane"'},
                )
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        return Context(
            request=request,
            response=response,
            services=lifespan_state(request.scope)["system"].services,
            caller=caller_in(request.scope),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        # A token in connection_init wins over the handshake's header; a wrong one is refused outright.
        token = connection_params_token(context.connection_params)
        if token is not None:
            context.caller = lifespan_state(context.request.scope)["authenticator"].authenticate(token)
        if context.caller is None:
            # graphql-transport-ws answers with close code 4403 "Forbidden".
            raise ConnectionRejectionError()
        socket = socket_of(context.request.scope)
        if socket is not None and not lifespan_state(context.request.scope)["sockets"].claim(
            socket, owner=context.caller.owner, session_id=context.caller.session_id
        ):
            raise ConnectionRejectionError()  # SocketLimits turns it into 1008 with the reason
        return await super().on_ws_connect(context)
