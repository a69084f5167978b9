"""The running system, built in one place: the server's lifespan and the tests both enter `running_system`.

Entered in order: the database (migrations applied), the engine catalogue, the store-owner index, the two
buses (StoreEvent, StoreChanged), the event writer, then the cluster side (a `Cluster`: the kube client,
watches, provisioner and reconciler, or none at all). Left in reverse: the cluster side first, then the writer
(committing what is queued), the buses (ending every subscription), the database.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from tortoise.connection import get_connection

from storeplane.db.exclusive import exclusive_server
from storeplane.db.lifecycle import close_db, init_db
from storeplane.engines.catalog import Catalog, load_catalog
from storeplane.events.bus import EventBus
from storeplane.events.records import EventRecord
from storeplane.events.writer import EventWriter
from storeplane.graphql.context import Services
from storeplane.pagination import PageLimits
from storeplane.provisioning.protocol import NoProvisioner, Provisioner
from storeplane.settings import Settings
from storeplane.stores.changes import StoreChanged, StoreChanges
from storeplane.stores.owners import StoreOwners
from storeplane.stores.progress import StatusOnlyTracker, StepTracker
from storeplane.stores.service import StoreService

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns None when ready, else a short reason for /readyz (no secrets, no stack traces)."""


@dataclass(frozen=True, kw_only=True)
class Core:
    """What every part of the system shares; built before the cluster side."""

    settings: Settings
    catalog: Catalog
    events: EventBus[EventRecord]
    changes: StoreChanges
    writer: EventWriter
    owners: StoreOwners


@dataclass(frozen=True, kw_only=True)
class ClusterParts:
    """What the cluster side gives the API: who provisions, who knows progress, what /readyz checks."""

    provisioner: Provisioner
    tracker: StepTracker
    readiness_checks: Mapping[str, ReadinessCheck] = field(default_factory=dict)


Cluster = Callable[[Core], AbstractAsyncContextManager[ClusterParts]]
"""Starts the cluster side on enter and stops it on exit."""


@asynccontextmanager
async def no_cluster(core: Core) -> AsyncIterator[ClusterParts]:
    """No cluster side: requests stay recorded in the database until a process with one resumes them."""
    log.warning("no provisioner: new stores stay Pending until a server with a cluster runs")
    yield ClusterParts(provisioner=NoProvisioner(), tracker=StatusOnlyTracker())


@dataclass(frozen=True, kw_only=True)
class System:
    core: Core
    cluster: ClusterParts
    services: Services
    readiness_checks: Mapping[str, ReadinessCheck]


def stop_this_process() -> None:
    """Ask the server to stop as Ctrl-C or `kill` would: uvicorn shuts the lifespan down, workers first."""
    signal.raise_signal(signal.SIGTERM)


async def _database_ready() -> str | None:
    await get_connection("default").execute_query("SELECT 1")
    return None


@asynccontextmanager
async def running_system(
    settings: Settings,
    *,
    cluster: Cluster = no_cluster,
    on_lost_database_lock: Callable[[], None] = stop_this_process,
) -> AsyncIterator[System]:
    async with AsyncExitStack() as stack:
        # First: a second server on the same database must not migrate it or resume its stores.
        await stack.enter_async_context(exclusive_server(settings, on_lost=on_lost_database_lock))
        await init_db(settings)
        stack.push_async_callback(close_db)
        catalog = await asyncio.to_thread(load_catalog, settings.charts_dir / "engines.yaml")
        owners = StoreOwners()
        await owners.load()
        events: EventBus[EventRecord] = EventBus(queue_size=settings.event_subscriber_queue_size)
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
        core = Core(
            settings=settings, catalog=catalog, events=events, changes=changes, writer=writer, owners=owners
        )
        parts = await stack.enter_async_context(cluster(core))
        stores = StoreService(
            catalog=catalog,
            writer=writer,
            changes=changes,
            owners=owners,
            provisioner=parts.provisioner,
            max_stores_per_owner=settings.max_stores_per_owner,
            page_limits=PageLimits(
                default=settings.graphql_default_page_size, maximum=settings.graphql_max_page_size
            ),
        )
        services = Services(
            catalog=catalog,
            stores=stores,
            events=events,
            changes=changes,
            owners=owners,
            tracker=parts.tracker,
        )
        yield System(
            core=core,
            cluster=parts,
            services=services,
            readiness_checks={"database": _database_ready, **parts.readiness_checks},
        )
