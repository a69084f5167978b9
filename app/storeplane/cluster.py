"""The cluster component of the server: kube client, helm, watches, provisioner and reconciler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storeplane.k8s.client import kube_client
from storeplane.k8s.helm import Helm, HelmConfig, resolve_helm_binary
from storeplane.k8s.watching import WatchSettings
from storeplane.observing.observer import Observer
from storeplane.provisioning.provisioner import KubeProvisioner
from storeplane.provisioning.reconciler import Reconciler
from storeplane.server import Runtime
from storeplane.settings import Settings

log = logging.getLogger(__name__)


def helm_config(settings: Settings) -> HelmConfig:
    """helm as the settings configure it; our hard limit on a mutation stays above helm's own timeout."""
    longest = max(settings.helm_install_timeout_seconds, settings.helm_uninstall_timeout_seconds)
    return HelmConfig(
        binary=resolve_helm_binary(None if settings.helm_binary is None else str(settings.helm_binary)),
        kubeconfig=None if settings.kubeconfig is None else str(settings.kubeconfig),
        kube_context=settings.kube_context,
        history_max=settings.helm_history_max,
        operation_timeout=longest,
        # Slack so that helm, not our kill, records a release as failed when its own timeout fires.
        mutation_timeout=longest + 60,
        query_timeout=settings.helm_status_timeout_seconds,
    )


def watch_settings(settings: Settings) -> WatchSettings:
    return WatchSettings(
        server_timeout_seconds=settings.watch_server_timeout_seconds,
        backoff_initial=settings.watch_backoff_initial_seconds,
        backoff_max=settings.watch_backoff_max_seconds,
        backoff_factor=settings.watch_backoff_factor,
    )


@asynccontextmanager
async def cluster_component(runtime: Runtime) -> AsyncIterator[None]:
    """Start the Kubernetes side in dependency order; leaving stops it in reverse (reconciler first)."""
    settings = runtime.settings
    watches = watch_settings(settings)
    async with kube_client(
        kubeconfig=settings.kubeconfig, context=settings.kube_context, in_cluster=settings.in_cluster
    ) as api:
        helm = Helm(helm_config(settings))
        observer = Observer(
            api=api,
            catalog=runtime.catalog,
            writer=runtime.writer,
            watch_settings=watches,
            changes=runtime.changes,
        )
        provisioner = KubeProvisioner(
            settings=settings,
            api=api,
            helm=helm,
            catalog=runtime.catalog,
            observer=observer,
            writer=runtime.writer,
            backoff=watches,
            changes=runtime.changes,
        )
        reconciler = Reconciler(
            observer=observer, provisioner=provisioner, drift_grace_seconds=settings.drift_grace_seconds
        )

        async def cluster_ready() -> str | None:
            if not observer.synced:
                unhealthy = [name for name, health in observer.watches.health().items() if not health.healthy]
                return f"watches not synced: {', '.join(unhealthy) or 'starting'}"
            return None

        async with observer, provisioner, reconciler:
            runtime.provisioner = provisioner
            runtime.tracker = observer
            runtime.readiness_checks["cluster"] = cluster_ready
            yield
