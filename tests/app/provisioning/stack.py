"""The provisioning stack against the session's kubesim: real SQLite, real helm, real watches."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import ApiClient

from kubesim.process import KubesimProcess
from storeplane.engines.catalog import load_catalog
from storeplane.events.writer import EventWriter
from storeplane.k8s.client import kube_client
from storeplane.k8s.helm import Helm, HelmConfig
from storeplane.k8s.watching import WatchSettings
from storeplane.observing.observer import Observer
from storeplane.provisioning.provisioner import KubeProvisioner
from storeplane.provisioning.reconciler import Reconciler
from storeplane.settings import Settings
from storeplane.stores.models import Store, StoreStatus
from tests.app.database import make_settings, open_database
from tests.helpers import REPO

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
    settings: Settings
    api: ApiClient
    helm: Helm
    writer: EventWriter
    observer: Observer
    provisioner: KubeProvisioner
    reconciler: Reconciler


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    overrides.setdefault("charts_dir", REPO / "charts")
    overrides.setdefault("values_dir", REPO / "values")
    overrides.setdefault("environment", "local")
    return make_settings(tmp_path, **overrides)


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    async with open_database(settings):
        yield


@asynccontextmanager
async def running(
    settings: Settings, *, kubesim: KubesimProcess, helm_bin: str, kube_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[Stack]:
    """Writer, observer, provisioner and reconciler started in the lifespan's order, stopped in reverse."""
    values_tmp = tmp_path / "helm-values"
    values_tmp.mkdir(exist_ok=True)
    catalog = load_catalog(settings.charts_dir / "engines.yaml")
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(kube_client(kubeconfig=kubesim.kubeconfig))
        helm = Helm(
            HelmConfig(
                binary=helm_bin,
                env=kube_env,
                values_dir=values_tmp,
                history_max=settings.helm_history_max,
                operation_timeout=60.0,
                mutation_timeout=90.0,
                kill_grace=3.0,
            )
        )
        writer = EventWriter(queue_size=1000, batch_max=100, drain_timeout=5.0)
        writer.start()
        stack.push_async_callback(writer.stop)
        observer = await stack.enter_async_context(
            Observer(api=api, catalog=catalog, writer=writer, watch_settings=FAST_WATCH)
        )
        provisioner = await stack.enter_async_context(
            KubeProvisioner(
                settings=settings,
                api=api,
                helm=helm,
                catalog=catalog,
                observer=observer,
                writer=writer,
                backoff=FAST_WATCH,
            )
        )
        reconciler = await stack.enter_async_context(
            Reconciler(observer=observer, provisioner=provisioner, drift_grace_seconds=1.0)
        )
        yield Stack(settings, api, helm, writer, observer, provisioner, reconciler)


@asynccontextmanager
async def provisioning(
    tmp_path: Path, *, kubesim: KubesimProcess, helm_bin: str, kube_env: dict[str, str], **overrides: Any
) -> AsyncIterator[Stack]:
    """A test's own database and running stack, with `settings_for(tmp_path, **overrides)`."""
    settings = settings_for(tmp_path, **overrides)
    async with (
        database(settings),
        running(settings, kubesim=kubesim, helm_bin=helm_bin, kube_env=kube_env, tmp_path=tmp_path) as stack,
    ):
        yield stack


async def new_store(name: str) -> Store:
    return await Store.create(
        name=name,
        engine="woocommerce",
        status=StoreStatus.PENDING,
        namespace=f"store-{name}",
        helm_release=name,
        owner="alice",
    )


async def status_of(store_id: str) -> StoreStatus:
    return (await Store.get(id=store_id)).status
