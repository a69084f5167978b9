"""The running system against the session's kubesim: real SQLite, real helm, real watches.

Built by the same `running_system` as the server, with a faster helm configuration and watch backoff.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubesim.process import KubesimProcess
from storeplane.cluster import KubeClusterParts, kube_cluster
from storeplane.events.models import StoreEvent
from storeplane.events.writer import EventWriter
from storeplane.k8s.client import KubeApi
from storeplane.k8s.helm import Helm, HelmConfig
from storeplane.k8s.watching import WatchSettings
from storeplane.observing.observer import Observer
from storeplane.provisioning.provisioner import KubeProvisioner
from storeplane.provisioning.reconciler import Reconciler
from storeplane.settings import Settings
from storeplane.stores.models import Store, StoreStatus
from storeplane.stores.records import StoreRecord, load_store
from storeplane.stores.transitions import announce_created, insert_store_row, transition
from storeplane.system import System, running_system
from tests.app.database_helpers import make_settings, open_database
from tests.helpers import REPO, eventually

FAST_WATCH = WatchSettings(
    server_timeout_seconds=60,
    read_timeout_grace=10.0,
    connect_timeout=5.0,
    list_timeout=10.0,
    backoff_initial=0.05,
    backoff_max=0.5,
    backoff_factor=2.0,
    backoff_jitter=0.2,
)


def unique_name(prefix: str = "shop") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


@dataclass
class Stack:
    system: System
    parts: KubeClusterParts

    @property
    def settings(self) -> Settings:
        return self.system.core.settings

    @property
    def writer(self) -> EventWriter:
        return self.system.core.writer

    @property
    def api(self) -> KubeApi:
        return self.parts.api

    @property
    def helm(self) -> Helm:
        return self.parts.helm

    @property
    def observer(self) -> Observer:
        return self.parts.observer

    @property
    def provisioner(self) -> KubeProvisioner:
        return self.parts.provisioner

    @property
    def reconciler(self) -> Reconciler:
        return self.parts.reconciler

    async def new_store(self, name: str) -> StoreRecord:
        """A Pending store, recorded as createStore records one (not yet submitted)."""
        core = self.system.core
        store = await insert_store_row(
            name=name, engine="woocommerce", namespace=f"store-{name}", owner="alice", idempotency_key=None
        )
        await announce_created(
            store,
            message=f"Store {name} requested",
            writer=core.writer,
            changes=core.changes,
            owners=core.owners,
        )
        return store

    async def create_store(self, name: str) -> StoreRecord:
        """createStore's whole path through the store service: recorded, announced, handed to provisioning."""
        result = await self.system.services.stores.create_store(
            owner="alice", name=name, engine="woocommerce", idempotency_key=None, client_address=None
        )
        assert isinstance(result, StoreRecord), result
        return result

    async def move(self, store_id: str, to: StoreStatus, message: str) -> StoreRecord:
        """What the store service does before it calls the provisioner (Deleting, or Pending for a retry)."""
        store = await load_store(store_id)
        assert store is not None
        core = self.system.core
        return await transition(store, to, message=message, writer=core.writer, changes=core.changes)

    async def delete(self, store_id: str) -> None:
        """deleteStore's path: Deleting committed, then the provisioner asked to delete."""
        await self.move(store_id, StoreStatus.DELETING, "Deletion requested")
        await self.provisioner.request_delete(store_id)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    overrides.setdefault("charts_dir", REPO / "charts")
    overrides.setdefault("values_dir", REPO / "values")
    overrides.setdefault("environment", "local")
    overrides.setdefault("drift_grace_seconds", 1.0)
    return make_settings(tmp_path, **overrides)


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    async with open_database(settings):
        yield


@asynccontextmanager
async def running(
    settings: Settings, *, kubesim: KubesimProcess, helm_bin: str, kube_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[Stack]:
    """The whole system with its database, started as the server starts it and stopped in reverse."""
    values_tmp = tmp_path / "helm-values"
    values_tmp.mkdir(exist_ok=True)
    helm = HelmConfig(
        binary=helm_bin,
        env=kube_env,
        values_dir=values_tmp,
        history_max=settings.helm_history_max,
        operation_timeout=60.0,
        mutation_timeout=90.0,
        kill_grace=3.0,
    )
    settings = settings.model_copy(update={"kubeconfig": kubesim.kubeconfig})
    async with running_system(settings, cluster=kube_cluster(helm=helm, watches=FAST_WATCH)) as system:
        yield Stack(system, cast(KubeClusterParts, system.cluster))


@asynccontextmanager
async def provisioning(
    tmp_path: Path, *, kubesim: KubesimProcess, helm_bin: str, kube_env: dict[str, str], **overrides: Any
) -> AsyncIterator[Stack]:
    """A test's own database and running system, with `settings_for(tmp_path, **overrides)`."""
    settings = settings_for(tmp_path, **overrides)
    async with running(
        settings, kubesim=kubesim, helm_bin=helm_bin, kube_env=kube_env, tmp_path=tmp_path
    ) as stack:
        yield stack


async def status_of(store_id: str) -> StoreStatus:
    return (await Store.get(id=store_id)).status


async def reaches(store_id: str, status: StoreStatus, *, timeout: float = 60.0) -> Store:
    """The store's row once it has `status` (polled: the test watches the database as a client would)."""

    async def probe() -> Store | None:
        store = await Store.get(id=store_id)
        return store if store.status == status else None

    return await eventually(probe, timeout=timeout, interval=0.1, what=f"store {store_id} {status}")


async def event_reasons(store_id: str) -> list[str]:
    """The store's event reasons, in the order written."""
    return [event.reason for event in await StoreEvent.filter(store_id=store_id).order_by("id")]


async def assert_each_once(store_id: str, *steps: str) -> list[str]:
    """Each of `steps` is in the store's history exactly once; the whole history, for more checks."""
    order = await event_reasons(store_id)
    for step in steps:
        assert order.count(step) == 1, (step, order)
    return order
