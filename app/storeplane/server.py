"""The Starlette application: its lifespan owns every background task; GraphQL, /healthz and /readyz.

Start-up, in order: database (migrations applied), engine catalogue, tokens, buses, event writer, then the
registered components (provisioner, watchers, reconciler, added by `create_app(components=...)`), each an
async context manager entered in order. Shutdown leaves them in reverse: components first, then the writer
(committing what is queued), the buses (ending every subscription), the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from tortoise.connection import get_connection

from storeplane.auth.sessions import SessionSigner, load_session_key
from storeplane.auth.tokens import TokenAuthenticator, load_tokens
from storeplane.db.lifecycle import close_db, init_db
from storeplane.engines.catalog import Catalog, load_catalog
from storeplane.events.bus import EventBus
from storeplane.events.models import StoreEvent
from storeplane.events.writer import EventWriter
from storeplane.graphql.context import Services
from storeplane.graphql.schema import build_schema
from storeplane.graphql.view import GraphQLApp
from storeplane.pagination import PageLimits
from storeplane.provisioning.protocol import NoProvisioner, Provisioner
from storeplane.settings import Settings
from storeplane.stores.changes import StoreChanged, StoreChanges
from storeplane.stores.owners import StoreOwners
from storeplane.stores.progress import StatusOnlyTracker, StepTracker
from storeplane.stores.service import StoreService
from storeplane.web import DEFAULT_DIST, SessionAuth, web_routes

log = logging.getLogger(__name__)


# A readiness check returns None when ready, else a short reason for /readyz (no secrets, no stack traces).
ReadinessCheck = Callable[[], Awaitable[str | None]]


@dataclass(kw_only=True)
class Runtime:
    """What the lifespan has started; components read it and may fill the slots marked below."""

    settings: Settings
    catalog: Catalog
    events: EventBus[StoreEvent]
    changes: StoreChanges
    writer: EventWriter
    owners: StoreOwners
    # Slots a component may fill while being entered; the store service is built after all are entered.
    provisioner: Provisioner | None = None
    tracker: StepTracker | None = None
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    services: Services | None = None


# A component: given the runtime, an async context manager that starts on enter and stops on exit.
Component = Callable[[Runtime], AbstractAsyncContextManager[None]]


class _State:
    """Filled by the lifespan; the routes read it per request."""

    runtime: Runtime | None = None
    authenticator: TokenAuthenticator | None = None
    sessions: SessionSigner | None = None

    def require_runtime(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("the application is not started")
        return self.runtime

    def require_services(self) -> Services:
        services = self.require_runtime().services
        if services is None:
            raise RuntimeError("the application is not started")
        return services

    def require_authenticator(self) -> TokenAuthenticator:
        if self.authenticator is None:
            raise RuntimeError("the application is not started")
        return self.authenticator

    def require_sessions(self) -> SessionSigner:
        if self.sessions is None:
            raise RuntimeError("the application is not started")
        return self.sessions


async def _database_ready() -> str | None:
    await get_connection("default").execute_query("SELECT 1")
    return None


def create_app(
    settings: Settings, *, components: Sequence[Component] = (), web_dist: Path = DEFAULT_DIST
) -> Starlette:
    """The app; `web_dist` is the dashboard's built bundle (served at `/`, with a hint when it is missing)."""
    state = _State()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await init_db(settings)
            stack.push_async_callback(close_db)
            catalog = await asyncio.to_thread(load_catalog, settings.charts_dir / "engines.yaml")
            tokens = await asyncio.to_thread(load_tokens, settings)
            state.authenticator = TokenAuthenticator(tokens)
            state.sessions = SessionSigner(await asyncio.to_thread(load_session_key, settings), tokens=tokens)
            owners = StoreOwners()
            await owners.load()
            events: EventBus[StoreEvent] = EventBus(queue_size=settings.event_subscriber_queue_size)
            changes: StoreChanges = EventBus[StoreChanged](queue_size=settings.event_subscriber_queue_size)
            stack.callback(events.close)
            stack.callback(changes.close)
            writer = EventWriter(
                bus=events,
                queue_size=settings.event_writer_queue_size,
                batch_max=settings.event_writer_batch_max,
                drain_timeout=settings.event_writer_drain_timeout_seconds,
            )
            writer.start()
            stack.push_async_callback(writer.stop)
            runtime = Runtime(
                settings=settings,
                catalog=catalog,
                events=events,
                changes=changes,
                writer=writer,
                owners=owners,
            )
            runtime.readiness_checks["database"] = _database_ready
            for component in components:
                await stack.enter_async_context(component(runtime))
            if runtime.provisioner is None:
                log.warning("no provisioner registered: new stores stay Pending until one runs")
            stores = StoreService(
                catalog=catalog,
                writer=writer,
                changes=changes,
                owners=owners,
                provisioner=runtime.provisioner or NoProvisioner(),
                max_stores_per_owner=settings.max_stores_per_owner,
                page_limits=PageLimits(
                    default=settings.graphql_default_page_size, maximum=settings.graphql_max_page_size
                ),
            )
            runtime.services = Services(
                catalog=catalog,
                stores=stores,
                events=events,
                changes=changes,
                owners=owners,
                tracker=runtime.tracker or StatusOnlyTracker(),
            )
            state.runtime = runtime
            app.state.runtime = runtime
            # What startup loaded lives as long as the process: freezing it keeps every later full
            # collection from walking it again (tens of milliseconds each, a request's p99 otherwise).
            gc.collect()
            gc.freeze()
            log.info("storeplane ready")
            try:
                yield
            finally:
                gc.unfreeze()  # what is torn down below may be collected again
                state.runtime = None

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        runtime = state.runtime
        if runtime is None:
            return JSONResponse({"status": "starting", "checks": {}}, status_code=503)
        results: dict[str, str] = {}
        for name, check in list(runtime.readiness_checks.items()):
            try:
                async with asyncio.timeout(runtime.settings.readiness_check_timeout_seconds):
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
