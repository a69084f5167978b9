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
from datetime import timedelta
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from storeplane.auth.callers import Authenticate
from storeplane.auth.routes import auth_routes
from storeplane.auth.sessions import SessionStore
from storeplane.auth.sign_in_codes import SignInCodes
from storeplane.auth.throttle import SignInThrottle
from storeplane.auth.tokens import TokenAuthenticator, load_tokens
from storeplane.body_limit import AUTH_BODY_LIMIT, BodyLimit
from storeplane.graphql.schema import build_schema
from storeplane.graphql.view import GraphQLApp
from storeplane.hsts import StrictTransportSecurity
from storeplane.lifespan_state import LifespanState, lifespan_state
from storeplane.settings import Settings
from storeplane.sockets import SocketLimits, SocketRegistry
from storeplane.system import Cluster, no_cluster, running_system
from storeplane.web import DEFAULT_DIST, web_routes

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, cluster: Cluster = no_cluster, web_dist: Path = DEFAULT_DIST
) -> Starlette:
    """The app; `web_dist` is the dashboard's built bundle (served at `/`, with a hint when it is missing)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[LifespanState]:
        authenticator = TokenAuthenticator(await asyncio.to_thread(load_tokens, settings))
        sockets = SocketRegistry(
            max_per_owner=settings.ws_max_per_owner, max_per_address=settings.ws_max_per_address
        )
        sessions = SessionStore(
            max_age_seconds=settings.session_max_age_seconds, vouches=authenticator.vouches_for
        )
        sessions.on_revoked(sockets.end_session)
        async with running_system(settings, cluster=cluster) as system:
            # What startup loaded lives as long as the process: freezing it keeps every later full
            # collection from walking it again (tens of milliseconds each, a request's p99 otherwise).
            gc.collect()
            gc.freeze()
            log.info("storeplane ready")
            try:
                yield LifespanState(
                    system=system,
                    authenticator=authenticator,
                    sessions=sessions,
                    sign_in_codes=SignInCodes(ttl_seconds=settings.signin_code_ttl_seconds),
                    sign_in_throttle=SignInThrottle(failures_per_minute=settings.signin_failures_per_minute),
                    sockets=sockets,
                )
            finally:
                gc.unfreeze()  # what is torn down below may be collected again

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        system = lifespan_state(request.scope)["system"]
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
        ide_page=web_dist / "graphiql.html",
        connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout_seconds),
    )
    # A bearer token or the dashboard's session cookie (auth/callers.py); websockets are counted first, so a
    # socket past a cap costs no database read.
    endpoint = SocketLimits(
        Authenticate(graphql, settings=settings), registry_of=lambda scope: lifespan_state(scope)["sockets"]
    )
    # Outside the routes, so that every body is bounded while it arrives, whatever reads it.
    middleware = [Middleware(BodyLimit, limit_for=partial(_body_limit, settings))]
    if settings.public_url.startswith("https://"):
        middleware.insert(0, Middleware(StrictTransportSecurity))
    return Starlette(
        routes=[
            Route("/graphql", endpoint, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", endpoint),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *auth_routes(settings),
            # Last: the bundle's catch-all answers every other GET with a file or index.html.
            *web_routes(dist=web_dist),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )


def _body_limit(settings: Settings, path: str) -> int:
    return AUTH_BODY_LIMIT if path.startswith("/auth/") else settings.http_max_body_bytes
