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

from storeplane.auth.sessions import SessionSigner, load_session_key
from storeplane.auth.tokens import TokenAuthenticator, load_tokens
from storeplane.body_limit import AUTH_BODY_LIMIT, BodyLimit
from storeplane.graphql.schema import build_schema
from storeplane.graphql.view import GraphQLApp
from storeplane.lifespan_state import LifespanState, lifespan_state
from storeplane.settings import Settings
from storeplane.system import Cluster, no_cluster, running_system
from storeplane.web import DEFAULT_DIST, SessionAuth, web_routes

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, cluster: Cluster = no_cluster, web_dist: Path = DEFAULT_DIST
) -> Starlette:
    """The app; `web_dist` is the dashboard's built bundle (served at `/`, with a hint when it is missing)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[LifespanState]:
        tokens = await asyncio.to_thread(load_tokens, settings)
        sessions = SessionSigner(await asyncio.to_thread(load_session_key, settings), tokens=tokens)
        async with running_system(settings, cluster=cluster) as system:
            # What startup loaded lives as long as the process: freezing it keeps every later full
            # collection from walking it again (tens of milliseconds each, a request's p99 otherwise).
            gc.collect()
            gc.freeze()
            log.info("storeplane ready")
            try:
                yield LifespanState(
                    system=system,
                    authenticator=TokenAuthenticator(tokens),
                    sessions=sessions,
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
        connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout_seconds),
    )
    # The dashboard's session cookie authenticates GraphQL too (web.py).
    graphql_with_sessions = SessionAuth(graphql)
    return Starlette(
        routes=[
            Route("/graphql", graphql_with_sessions, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_with_sessions),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            # Last: the bundle's catch-all answers every other GET with a file or index.html.
            *web_routes(dist=web_dist),
        ],
        # Outside the routes, so that every body is bounded while it arrives, whatever reads it.
        middleware=[Middleware(BodyLimit, limit_for=partial(_body_limit, settings))],
        lifespan=lifespan,
    )


def _body_limit(settings: Settings, path: str) -> int:
    return AUTH_BODY_LIMIT if path.startswith("/auth/") else settings.http_max_body_bytes
