"""Who is calling: a bearer token, else the session cookie, resolved once per request or handshake."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from storeplane.auth.cookies import same_origin, session_cookie
from storeplane.auth.tokens import Caller, bearer_token
from storeplane.lifespan_state import lifespan_state
from storeplane.settings import Settings

_SCOPE_KEY = "storeplane.caller"


def caller_in(scope: MutableMapping[str, Any]) -> Caller | None:
    """The caller `Authenticate` found for this request or handshake."""
    caller = scope.get(_SCOPE_KEY)
    return caller if isinstance(caller, Caller) else None


class Authenticate:
    """ASGI middleware: puts the caller (or None) in the scope.

    An Authorization header wins and is judged alone (a wrong token is not rescued by a cookie); a cookie
    counts only from the same origin.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self._app = app
        self._settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, _SCOPE_KEY: await self._caller(scope)}
        await self._app(scope, receive, send)

    async def _caller(self, scope: Scope) -> Caller | None:
        headers = Headers(scope=scope)
        state = lifespan_state(scope)
        authorization = headers.get("authorization")
        if authorization is not None:
            return state["authenticator"].authenticate(bearer_token(authorization))
        if not same_origin(headers, self._settings):
            return None
        session = await state["sessions"].resolve(session_cookie(headers))
        if session is None:
            return None
        return Caller(owner=session.owner, role=session.role, session_id=session.id)
