"""Open GraphQL websockets: capped per client address and per owner, and closed when their session is revoked.

`SocketLimits` wraps the GraphQL endpoint's websockets. The address cap is checked at the handshake; the owner
is known only once the view has authenticated `connection_init`, so the view claims the socket for its owner
(`SocketRegistry.claim`) and refuses it when the owner has too many. Either way the client gets close code
1008 with a reason. Revoking a session ends its sockets with 4403, which the dashboard reads as "signed out".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY_VIOLATION = 1008
SIGNED_OUT = 4403
_SCOPE_KEY = "storeplane.socket"


@dataclass(eq=False)
class OpenSocket:
    address: str
    owner: str | None = None
    session_id: str | None = None
    # The close code and reason to send instead of the app's own, once the socket is refused or stopped.
    ending: tuple[int, str] | None = None
    stopped: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def stop(self, code: int, reason: str) -> None:
        self.ending = (code, reason)
        if not self.stopped.done():
            self.stopped.set_result(None)


class SocketRegistry:
    def __init__(self, *, max_per_owner: int, max_per_address: int) -> None:
        self._max_per_owner = max_per_owner
        self._max_per_address = max_per_address
        self._open: set[OpenSocket] = set()
        self._per_address: Counter[str] = Counter()
        self._per_owner: Counter[str] = Counter()

    def open(self, address: str) -> OpenSocket | None:
        """Track a new socket; None when its address already has the most allowed."""
        if self._per_address[address] >= self._max_per_address:
            return None
        socket = OpenSocket(address=address)
        self._open.add(socket)
        self._per_address[address] += 1
        return socket

    def claim(self, socket: OpenSocket, *, owner: str, session_id: str | None) -> bool:
        """Count the socket against its owner; False (and the socket marked refused) past the owner's cap."""
        if socket.owner is not None:
            self._per_owner[socket.owner] -= 1
        if self._per_owner[owner] >= self._max_per_owner:
            socket.owner = None
            socket.ending = (POLICY_VIOLATION, "too many websockets for this owner")
            return False
        socket.owner, socket.session_id = owner, session_id
        self._per_owner[owner] += 1
        return True

    def close(self, socket: OpenSocket) -> None:
        if socket not in self._open:
            return
        self._open.discard(socket)
        self._per_address[socket.address] -= 1
        if not self._per_address[socket.address]:
            del self._per_address[socket.address]
        if socket.owner is not None:
            self._per_owner[socket.owner] -= 1
            if not self._per_owner[socket.owner]:
                del self._per_owner[socket.owner]

    def end_session(self, session_id: str) -> None:
        """Close every socket the session opened: it was revoked."""
        for socket in self._open:
            if socket.session_id == session_id:
                socket.stop(SIGNED_OUT, "session revoked")

    def count(self, *, owner: str | None = None, address: str | None = None) -> int:
        if owner is not None:
            return self._per_owner[owner]
        if address is not None:
            return self._per_address[address]
        return len(self._open)


def socket_of(scope: MutableMapping[str, Any]) -> OpenSocket | None:
    """The tracked socket of a websocket's scope (None outside SocketLimits)."""
    socket = scope.get(_SCOPE_KEY)
    return socket if isinstance(socket, OpenSocket) else None


class SocketLimits:
    """ASGI middleware: tracks each websocket, refuses those past a cap, stops those of revoked sessions."""

    def __init__(self, app: ASGIApp, *, registry_of: Callable[[Scope], SocketRegistry]) -> None:
        self._app = app
        self._registry_of = registry_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self._app(scope, receive, send)
            return
        registry = self._registry_of(scope)
        client = scope.get("client")
        socket = registry.open(client[0] if client else "?")
        if socket is None:
            await _refuse(receive, send, "too many websockets from this address")
            return
        closed = False

        async def tracked_send(message: Message) -> None:
            nonlocal closed
            if message["type"] in ("websocket.close", "websocket.http.response.start"):
                if closed:
                    return
                closed = True
                if message["type"] == "websocket.close" and socket.ending is not None:
                    code, reason = socket.ending
                    message = {"type": "websocket.close", "code": code, "reason": reason}
            await send(message)

        async def stoppable_receive() -> Message:
            # A stopped socket looks disconnected to the app, which then ends its subscriptions and returns.
            if not socket.stopped.done():
                receiving = asyncio.ensure_future(receive())
                await asyncio.wait((receiving, socket.stopped), return_when=asyncio.FIRST_COMPLETED)
                if receiving.done():
                    return receiving.result()
                receiving.cancel()
            return {"type": "websocket.disconnect", "code": socket.ending[0] if socket.ending else 1000}

        try:
            await self._app({**scope, _SCOPE_KEY: socket}, stoppable_receive, tracked_send)
        finally:
            registry.close(socket)
            if socket.stopped.done() and not closed and socket.ending is not None:
                code, reason = socket.ending
                # The client may have gone meanwhile; then there is nobody to tell.
                with contextlib.suppress(OSError, RuntimeError):
                    await send({"type": "websocket.close", "code": code, "reason": reason})


async def _refuse(receive: Receive, send: Send, reason: str) -> None:
    # Accepted first so that the client sees a close code and a reason, not a bare HTTP 403.
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason})
