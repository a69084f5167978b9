"""What the server's lifespan hands every request: Starlette's lifespan state, read from the ASGI scope.

The lifespan builds these once the system has started; uvicorn copies the dict into each request's and each
websocket's scope (`scope["state"]`, `request.state`). Nothing holds them in a slot to fill later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict, cast

from storeplane.auth.sessions import SessionStore
from storeplane.auth.sign_in_codes import SignInCodes
from storeplane.auth.throttle import SignInThrottle
from storeplane.auth.tokens import TokenAuthenticator
from storeplane.sockets import SocketRegistry

if TYPE_CHECKING:
    from storeplane.system import System


class LifespanState(TypedDict):
    system: System
    authenticator: TokenAuthenticator
    sessions: SessionStore
    sign_in_codes: SignInCodes
    sign_in_throttle: SignInThrottle
    sockets: SocketRegistry


def lifespan_state(scope: Mapping[str, Any]) -> LifespanState:
    """The state of the request or websocket whose ASGI scope this is."""
    state = scope.get("state")
    if not state or "system" not in state:
        raise RuntimeError("the application is not started (no lifespan state in the request's scope)")
    return cast(LifespanState, state)
