"""HSTS on every response once the public URL is https: browsers then never try plain http for this host."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One year, the value browsers' preload lists expect; subdomains are left alone (stores live under another).
HSTS_VALUE = "max-age=31536000"


class StrictTransportSecurity:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("strict-transport-security", HSTS_VALUE)
            await send(message)

        await self._app(scope, receive, send_with_hsts)
