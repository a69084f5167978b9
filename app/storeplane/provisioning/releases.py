"""A store's helm release: installed (repairing what a killed helm left) or uninstalled. Records nothing.

An existing release found by `helm install` (ReleaseExists, or OperationInProgress for a release held by a
killed helm): when resuming a Provisioning store after a restart, a `deployed` release is ours and is kept.
Anything else - pending-install or pending-upgrade left by a killed helm, a failed release, or any release
when the store starts over (Pending again after retryStore) - is uninstalled and installed again.
Uninstall+install rather than rollback: a killed first install has no revision to roll back to, rollback
would keep the broken revision's objects (a failed setup Job keeps its name and would not rerun), and the
chart keeps its Secrets and volumes across an uninstall (`helm.sh/resource-policy: keep`), so the store's
data and passwords survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from storeplane.engines.catalog import Engine
from storeplane.k8s.errors import (
    HelmError,
    HelmTimeout,
    OperationInProgress,
    ReleaseExists,
    ReleaseNotFound,
    is_transient,
)
from storeplane.k8s.helm import Helm, Release, ReleaseState
from storeplane.provisioning.api_witness import ApiWitness
from storeplane.provisioning.errors import ProvisioningFailed
from storeplane.settings import Settings
from storeplane.stores.records import StoreRecord

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreReleases:
    def __init__(self, *, helm: Helm, settings: Settings, witness: ApiWitness | None = None) -> None:
        self._helm = helm
        self._settings = settings
        self._witness = witness

    def host(self, store: StoreRecord) -> str:
        return f"{store.name}.{self._settings.base_domain}"

    async def install(
        self, store: StoreRecord, engine: Engine, *, starting_over: bool
    ) -> tuple[Release, bool]:
        """The installed release, and whether it is one an earlier process had already deployed."""
        try:
            return await self._install(store, engine), False
        except (ReleaseExists, OperationInProgress):
            pass
        current = await _with_deadline(
            self._helm.status(release=store.helm_release, namespace=store.namespace),
            self._settings.helm_status_timeout_seconds,
            "status",
        )
        if current.status == ReleaseState.DEPLOYED and not starting_over:
            log.info("store %s: release %s already deployed, resuming", store.id, current.name)
            return current, True
        log.info(
            "store %s: release %s is %s; uninstalling and installing again",
            store.id,
            current.name,
            current.status,
        )
        await self.uninstall(store)
        return await self._install(store, engine), False

    async def uninstall(self, store: StoreRecord) -> None:
        with contextlib.suppress(ReleaseNotFound):
            await _with_deadline(
                self._helm.uninstall(
                    release=store.helm_release, namespace=store.namespace, ignore_not_found=True
                ),
                self._settings.helm_uninstall_timeout_seconds,
                "uninstall",
            )

    async def _install(self, store: StoreRecord, engine: Engine) -> Release:
        # Only these three keys (docs/chart.md); the wrapper writes them to a 0600 file, removed after.
        store_values = {"store": {"id": store.id, "name": store.name, "host": self.host(store)}}
        started = time.time()
        try:
            return await _with_deadline(
                self._helm.install(
                    release=store.helm_release,
                    namespace=store.namespace,
                    chart=engine.chart,
                    values=[self._settings.values_file, store_values],
                ),
                self._settings.helm_install_timeout_seconds,
                "install",
            )
        except HelmError as exc:
            if isinstance(exc, ReleaseExists | OperationInProgress) or is_transient(exc):
                raise
            judged = exc if self._witness is None else await self._witness.judge(exc, started=started)
            if is_transient(judged):
                raise judged from exc
            raise ProvisioningFailed(f"helm install of {store.helm_release} failed: {exc.message}") from exc


async def _with_deadline(call: Awaitable[T], seconds: float, command: str) -> T:
    # The settings' per-command limits; cancelling the call makes the wrapper terminate helm.
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError:
        raise HelmTimeout(f"helm {command} did not finish within {seconds:g}s", command=command) from None
