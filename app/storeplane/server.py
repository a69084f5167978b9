"""The Starlette application: GraphQL, the dashboard, /healthz and /readyz around the running system.

Its lifespan loads the tokens, then enters `running_system` (system.py), which builds and starts everything
in order and stops it in reverse; the system is also the lifespan's state (`request.state.system`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from storeplane.auth.sessions import SessionSigner, load_session_key
from storeplane.auth.tokens import TokenAuthenticator, load_tokens
from storeplane.graphql.context import Services
from storeplane.graphql.schema import build_schema
from storeplane.graphql.view import GraphQLApp
from storeplane.settings import Settings
from storeplane.system import Cluster, System, no_cluster, running_system
from storeplane.web import DEFAULT_DIST, SessionAuth, web_routes

log = logging.getLogger(__name__)


class _State:
    """Set by the lifespan; the routes read it per request."""

    system: System | None = None
    authenticator: TokenAuthenticator | None = None
    sessions: SessionSigner | None = None

    def require_system(self) -> System:
        if self.system is None:
            raise RuntimeError("the application is not started")
        return self.system

    def require_services(self) -> Services:
        return self.require_system().services

    def require_authenticator(self) -> TokenAuthenticator:
        if self.authenticator is None:
            raise RuntimeError("the application is not started")
        return self.authenticator

    def require_sessions(self) -> SessionSigner:
        if self.sessions is None:
            raise RuntimeError("the application is not started")
        return self.sessions


def create_app(
    settings: Settings, *, cluster: Cluster = no_cluster, web_dist: Path = DEFAULT_DIST
) -> Starlette:
    """The app; `web_dist` is the dashboard's built bundle (served at `/`, with a hint when it is missing)."""
    state = _State()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, System]]:
        tokens = await asyncio.to_thread(load_tokens, settings)
        state.authenticator = TokenAuthenticator(tokens)
        state.sessions = SessionSigner(await asyncio.to_thread(load_session_key, settings), tokens=tokens)
        async with running_system(settings, cluster=cluster) as system:
            state.system = system
            # What startup loaded lives as long as the process: freezing it keeps every later full
            # collection from walking it again (tens of milliseconds each, a request's p99 otherwise).
            gc.collect()
            gc.freeze()
            log.info("storeplane ready")
            try:
                yield {"system": system}
            finally:
                gc.unfreeze()  # what is torn down below may be collected again
                state.system = None

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        system = state.system
        if system is None:
            return JSONResponse({"status": "starting", "checks": {}}, status_code=503)
        results: dict[str, str] = {}
        for name, check in system.readiness_checks.items():
            try:
                async with asyncio.timeout(settings.readiness_check_timeout_seconds):
                    reason = await check()
            except Exception:
                log.warning("readiness check %s failed", name, exc_info=True)
                reason = "unreachable"
            results[name] = reason or "ok"
        ready = all(result == "ok" for result in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    graphql = GraphQLApp(
        schema=build_schema(settings),
        graphql_ide="graphiql",
        services=state.require_services,
        authenticator=state.require_authenticator,
    )
    # The dashboard's session cookie authenticates GraphQL too (app/storeplane/web.py).
    graphql_with_sessions = SessionAuth(graphql, sessions=state.require_sessions)
    return Starlette(
        routes=[
            Route("/graphql", graphql_with_sessions, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_with_sessions),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            # Last: the bundle's catch-all answers every other GET with a file or index.html.
            *web_routes(
                sessions=state.require_sessions, authenticator=state.require_authenticator, dist=web_dist
            ),
        ],
        lifespan=lifespan,
    )
