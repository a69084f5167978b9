"""The cluster side of the system: kube client, helm, the Observer, the provisioner and the reconciler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from storeplane.environment import environment_features
from storeplane.k8s.client import KubeApi, kube_client
from storeplane.k8s.helm import Helm, HelmConfig, resolve_helm_binary
from storeplane.k8s.watching import WatchSettings
from storeplane.observing.observer import Observer
from storeplane.provisioning.provisioner import KubeProvisioner
from storeplane.provisioning.reconciler import Reconciler
from storeplane.settings import Settings
from storeplane.system import Cluster, ClusterParts, Core


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
        env_passthrough=settings.helm_env_passthrough,
    )


def watch_settings(settings: Settings) -> WatchSettings:
    return WatchSettings(
        server_timeout_seconds=settings.watch_server_timeout_seconds,
        backoff_initial=settings.watch_backoff_initial_seconds,
        backoff_max=settings.watch_backoff_max_seconds,
        backoff_factor=settings.watch_backoff_factor,
    )


@dataclass(frozen=True, kw_only=True)
class KubeClusterParts(ClusterParts):
    api: KubeApi
    helm: Helm
    observer: Observer
    provisioner: KubeProvisioner
    reconciler: Reconciler


def kube_cluster(*, helm: HelmConfig | None = None, watches: WatchSettings | None = None) -> Cluster:
    """The real cluster side; `helm` and `watches` replace what the settings say (tests make them faster)."""

    @asynccontextmanager
    async def run(core: Core) -> AsyncIterator[KubeClusterParts]:
        settings = core.settings
        watching = watches or watch_settings(settings)
        async with kube_client(
            kubeconfig=settings.kubeconfig, context=settings.kube_context, in_cluster=settings.in_cluster
        ) as api:
            features = await environment_features(api, values_file=settings.values_file)
            observer = Observer(
                api=api,
                catalog=core.catalog,
                features=features,
                writer=core.writer,
                changes=core.changes,
                watch_settings=watching,
            )
            helm_runner = Helm(helm or helm_config(settings))
            provisioner = KubeProvisioner(
                settings=settings,
                api=api,
                helm=helm_runner,
                catalog=core.catalog,
                observer=observer,
                writer=core.writer,
                changes=core.changes,
                retry=watching.retry_policy,
            )
            reconciler = Reconciler(
                observer=observer,
                provisioner=provisioner,
                writer=core.writer,
                changes=core.changes,
                drift_grace_seconds=settings.drift_grace_seconds,
                sweep_interval_seconds=settings.sweep_interval_seconds,
            )

            async def cluster_ready() -> str | None:
                if not observer.synced:
                    health = observer.watches.health().items()
                    unhealthy = [name for name, watch in health if not watch.healthy]
                    return f"watches not synced: {', '.join(unhealthy) or 'starting'}"
                return None

            async with observer, provisioner, reconciler:
                yield KubeClusterParts(
                    provisioner=provisioner,
                    tracker=observer,
                    readiness_checks={"cluster": cluster_ready},
                    api=api,
                    helm=helm_runner,
                    observer=observer,
                    reconciler=reconciler,
                )

    return run
