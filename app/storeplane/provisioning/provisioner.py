"""The provisioner: a bounded pool of workers that install stores, and the tasks that wait and delete.

Flow of one store (every status change through `provisioning.states.transition`, committed before the
work it announces):

- **install** (a worker, at most `provisioning_concurrency` at once, so never more helm installs than that):
  Pending -> Provisioning; create the labelled namespace (or reuse ours); `helm install` without --wait, with
  `values/<env>.yaml` and a per-store values file (the wrapper writes it 0600 and removes it after the call).
  Transient faults (API outage, helm killed by its deadline) are retried with the watch backoff. The worker
  moves on to the next store as soon as helm is done: announcing the result waits for the database.
- **wait** (a task per store, outside the pool, so slow readiness does not block other installs): until the
  Observer says every workload is ready and the setup Job completed, driven by watch events, bounded by
  `provisioning_timeout_seconds` counted from the start of the install. Then Ready with the engine's URLs,
  or Failed with a reason naming what was not ready.
- **delete** (any state): Deleting is recorded by the caller; the install or wait task is cancelled (the
  helm wrapper terminates a running helm), `helm uninstall` (at most `provisioning_concurrency` at once),
  the namespace deleted, and Deleted once the Namespace watch reports it gone.

An existing release found by `helm install` (ReleaseExists): when resuming a Provisioning store after a
restart, a `deployed` release is ours and is kept. Anything else - a release left pending-install or
pending-upgrade by a killed helm, a failed one, or any release when the store starts over (Pending again
after retryStore) - is uninstalled and installed again. Uninstall+install rather than rollback: a killed
first install has no revision to roll back to, rollback would keep the broken revision's objects (a failed
setup Job keeps its name and would not rerun), and the chart keeps its Secrets and volumes across an
uninstall (`helm.sh/resource-policy: keep`), so the store's data and passwords survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml
from kubernetes_asyncio.client import ApiClient

from storeplane.engines.catalog import Catalog, Engine
from storeplane.events.models import EventSource, EventType
from storeplane.events.writer import EventWriter, StoreEventDraft
from storeplane.k8s.errors import HelmError, HelmTimeout, OperationInProgress, ReleaseExists, ReleaseNotFound
from storeplane.k8s.helm import Helm, Release, ReleaseState
from storeplane.k8s.watching import WatchSettings
from storeplane.observing.messages import ingress_ready_note
from storeplane.observing.observer import Observer
from storeplane.provisioning.errors import ProvisioningFailed
from storeplane.provisioning.namespaces import delete_namespace, ensure_namespace, namespace_owner
from storeplane.provisioning.retry import is_transient, retrying
from storeplane.provisioning.states import TransitionConflict, transition
from storeplane.settings import Settings
from storeplane.stores.changes import StoreChanges
from storeplane.stores.models import Store, StoreStatus

log = logging.getLogger(__name__)
T = TypeVar("T")


def tls_enabled(values_file: Path) -> bool:
    """`environment.tls.enabled` of the environment's values file: the URL scheme (docs/chart.md)."""
    document = yaml.safe_load(values_file.read_text()) or {}
    tls = ((document.get("environment") or {}).get("tls")) or {}
    return bool(tls.get("enabled", False))


class KubeProvisioner:
    """Implements the Provisioner protocol. Owns its tasks: start()/stop() or `async with`."""

    def __init__(
        self,
        *,
        settings: Settings,
        api: ApiClient,
        helm: Helm,
        catalog: Catalog,
        observer: Observer,
        writer: EventWriter,
        backoff: WatchSettings,
        changes: StoreChanges | None = None,
    ) -> None:
        self._settings = settings
        self._api = api
        self._helm = helm
        self._catalog = catalog
        self._observer = observer
        self._writer = writer
        self._backoff = backoff
        self._changes = changes
        self._tls = False
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        # The one task doing something for each store now: install, wait or delete.
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Deletes do not queue behind installs, but a burst of them must not start one helm per store at once
        # (each helm process takes tens of MB and a share of the API server): as many as install workers.
        self._uninstall_slots = asyncio.Semaphore(settings.provisioning_concurrency)
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("provisioner already started")
        self._started = True
        self._tls = await asyncio.to_thread(tls_enabled, self._settings.values_file)
        for number in range(self._settings.provisioning_concurrency):
            worker = asyncio.create_task(self._worker(), name=f"provision-worker-{number}")
            worker.add_done_callback(_log_death)
            self._workers.append(worker)

    async def stop(self) -> None:
        """Cancel the workers and every store task, then await them all (helm is terminated by the wrapper).

        What was in flight stays in its status in the database; the next start resumes it.
        """
        tasks = [*self._workers, *self._tasks.values()]
        self._workers.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._tasks.clear()

    async def __aenter__(self) -> KubeProvisioner:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def tls(self) -> bool:
        return self._tls

    def busy(self, store_id: str) -> bool:
        return store_id in self._queued or store_id in self._tasks

    # -- the Provisioner protocol ------------------------------------------------------------------

    async def submit(self, store_id: str) -> None:
        """Queue a Pending (new or retried), Provisioning (resumed) or Failed store; no-op when busy."""
        if self.busy(store_id):
            return
        store = await Store.get_or_none(id=store_id)
        if store is None or store.status not in (
            StoreStatus.PENDING,
            StoreStatus.PROVISIONING,
            StoreStatus.FAILED,
        ):
            return
        self._observer.track(store)
        self._queued.add(store_id)
        self._queue.put_nowait(store_id)

    async def request_delete(self, store_id: str) -> None:
        """Delete the store (records Deleting itself if the caller did not); no-op while a delete runs."""
        current = self._tasks.get(store_id)
        if current is not None and current.get_name().startswith("delete:"):
            return
        store = await Store.get_or_none(id=store_id)
        if store is None or store.status == StoreStatus.DELETED:
            return
        while store.status != StoreStatus.DELETING:
            try:
                await self._transition(store, StoreStatus.DELETING, f"Deleting store {store.name}")
            except TransitionConflict:
                store = await Store.get(id=store_id)
                if store.status == StoreStatus.DELETED:
                    return
        current = self._tasks.get(store_id)
        if current is not None and current.get_name().startswith("delete:"):
            return
        self._queued.discard(store_id)  # a queued install finds the store Deleting and skips it
        self._spawn(store_id, self._delete(store_id, previous=current), f"delete:{store_id}")

    async def mark_failed(self, store_id: str, *, expected: StoreStatus, reason: str) -> bool:
        """Fail the store if it is still in `expected` (drift of a Ready store); False when it moved on."""
        store = await Store.get_or_none(id=store_id)
        if store is None or store.status != expected:
            return False
        try:
            await self._transition(store, StoreStatus.FAILED, reason)
        except TransitionConflict:
            return False
        return True

    # -- tasks -------------------------------------------------------------------------------------

    def _spawn(self, store_id: str, coroutine: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coroutine, name=name)
        self._tasks[store_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._tasks.get(store_id) is finished:
                del self._tasks[store_id]
            _log_death(finished)

        task.add_done_callback(done)
        return task

    async def _worker(self) -> None:
        while True:
            store_id = await self._queue.get()
            if store_id not in self._queued:
                continue  # withdrawn by a delete
            self._queued.discard(store_id)
            if store_id in self._tasks:
                continue
            helm_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            task = self._spawn(store_id, self._install(store_id, helm_done), f"install:{store_id}")
            try:
                # Until helm is done with the store, not until the task ends: the workers bound helm runs,
                # and the event announcing the install waits for a database commit, which under a burst's
                # load takes a fair share of helm's own time. asyncio.wait, not await: a delete cancelling
                # this store's install must not end the worker.
                await asyncio.wait({task, helm_done}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                task.cancel()
                await asyncio.wait({task})
                raise

    async def _transition(
        self, store: Store, to: StoreStatus, reason: str, *, urls: tuple[str, str] | None = None
    ) -> Store:
        await transition(store, to, reason=reason, writer=self._writer, changes=self._changes, urls=urls)
        self._observer.track(store)
        return store

    async def _event(
        self, store: Store, reason: str, message: str, *, source: EventSource, kind: str, name: str
    ) -> None:
        await self._writer.write(
            StoreEventDraft(
                store_id=store.id,
                type=EventType.NORMAL,
                reason=reason,
                message=message,
                source=source,
                involved_kind=kind,
                involved_name=name,
            )
        )

    async def _fail(self, store: Store, reason: str) -> None:
        # A conflict means it was deleted (or changed by the API) meanwhile: that decision stands.
        with contextlib.suppress(TransitionConflict):
            await self._transition(store, StoreStatus.FAILED, reason)
        log.info("store %s failed: %s", store.id, reason)

    # -- install -----------------------------------------------------------------------------------

    async def _install(self, store_id: str, helm_done: asyncio.Future[None]) -> None:
        """Install the store's release; `helm_done` is set once no helm runs for it any more."""
        store = await Store.get_or_none(id=store_id)
        if store is None:
            return
        starting_over = store.status in (StoreStatus.PENDING, StoreStatus.FAILED)
        loop = asyncio.get_running_loop()
        timeout = self._settings.provisioning_timeout_seconds
        deadline = loop.time() + timeout
        try:
            if starting_over:
                await self._transition(
                    store,
                    StoreStatus.PROVISIONING,
                    f"Provisioning {store.name} ({store.engine}) in namespace {store.namespace}",
                )
            elif store.status != StoreStatus.PROVISIONING:
                return
            engine = self._catalog.get(store.engine)
            if engine is None:
                await self._fail(store, f"Unknown engine {store.engine!r}: it is not in charts/engines.yaml")
                return
            try:
                async with asyncio.timeout_at(deadline):
                    await self._install_release(
                        store, engine, starting_over=starting_over, helm_done=helm_done
                    )
            except TimeoutError:
                await self._fail(
                    store, f"The chart was not installed within {timeout:g}s (cluster unreachable?)"
                )
                return
            except ProvisioningFailed as exc:
                await self._fail(store, exc.reason)
                return
        except TransitionConflict:
            return  # deleted meanwhile
        self._spawn(store_id, self._await_ready(store, engine, deadline=deadline), f"ready:{store_id}")

    def _host(self, store: Store) -> str:
        return f"{store.name}.{self._settings.base_domain}"

    async def _install_release(
        self, store: Store, engine: Engine, *, starting_over: bool, helm_done: asyncio.Future[None]
    ) -> None:
        what = f"store {store.id}"
        created = await retrying(
            lambda: ensure_namespace(self._api, name=store.namespace, store_id=store.id),
            what=f"creating the namespace of {what}",
            backoff=self._backoff,
        )
        await self._event(
            store,
            "NamespaceCreated" if created else "NamespaceReused",
            f"Namespace {store.namespace} {'created' if created else 'already exists (ours), reused'}",
            source=EventSource.API,
            kind="Namespace",
            name=store.namespace,
        )
        try:
            release, reused = await retrying(
                lambda: self._helm_install(store, engine, starting_over=starting_over),
                what=f"installing the chart of {what}",
                backoff=self._backoff,
            )
        finally:
            if not helm_done.done():
                helm_done.set_result(None)
        # A release found deployed on resume was installed (and announced) by an earlier process: saying
        # "installed" again would repeat that step in the store's history.
        await self._event(
            store,
            "HelmReleaseReused" if reused else "HelmInstalled",
            f"helm release {release.name} revision {release.revision} already deployed (ours), reused"
            if reused
            else f"helm installed release {release.name} revision {release.revision} "
            f"({release.chart or engine.key}), status {release.status}",
            source=EventSource.HELM,
            kind="Release",
            name=release.name,
        )

    async def _helm_install(
        self, store: Store, engine: Engine, *, starting_over: bool
    ) -> tuple[Release, bool]:
        """The installed release, and whether it is one an earlier process had already deployed."""
        try:
            return await self._run_install(store, engine), False
        except (ReleaseExists, OperationInProgress):
            pass
        current = await self._with_deadline(
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
        await self._uninstall(store)
        return await self._run_install(store, engine), False

    async def _run_install(self, store: Store, engine: Engine) -> Release:
        # Only these three keys (docs/chart.md); the wrapper writes them to a 0600 file, removed after.
        store_values = {"store": {"id": store.id, "name": store.name, "host": self._host(store)}}
        try:
            return await self._with_deadline(
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
            raise ProvisioningFailed(f"helm install of {store.helm_release} failed: {exc.message}") from exc

    async def _uninstall(self, store: Store) -> None:
        with contextlib.suppress(ReleaseNotFound):
            await self._with_deadline(
                self._helm.uninstall(
                    release=store.helm_release, namespace=store.namespace, ignore_not_found=True
                ),
                self._settings.helm_uninstall_timeout_seconds,
                "uninstall",
            )

    @staticmethod
    async def _with_deadline(call: Awaitable[T], seconds: float, command: str) -> T:
        # The settings' per-command limits; cancelling the call makes the wrapper terminate helm.
        try:
            async with asyncio.timeout(seconds):
                return await call
        except TimeoutError:
            raise HelmTimeout(f"helm {command} did not finish within {seconds:g}s", command=command) from None

    # -- wait for readiness ------------------------------------------------------------------------

    async def _await_ready(self, store: Store, engine: Engine, *, deadline: float) -> None:
        timeout = self._settings.provisioning_timeout_seconds
        try:
            async with asyncio.timeout_at(deadline):
                assessment = await self._observer.wait_ready(store.id)
        except TimeoutError:
            current = self._observer.assess(store.id)
            if current is None or not self._observer.synced:
                detail = "the cluster's state could not be read (watches not synced)"
            else:
                detail = "; ".join(current.waiting_for) or "unknown"
            await self._fail(store, f"Not ready after {timeout:g}s: {detail}")
            return
        if assessment.failed is not None:
            await self._fail(store, assessment.failed)
            return
        storefront, admin = engine.urls(host=self._host(store), tls=self._tls)
        ingress = next(
            (step.name(store.helm_release) for step in engine.steps if step.kind == "Ingress"), None
        )
        try:
            if ingress is not None:
                await self._observer.write_note(store.id, ingress_ready_note(ingress, storefront))
            await self._transition(
                store,
                StoreStatus.READY,
                f"Store {store.name} is ready at {storefront}",
                urls=(storefront, admin),
            )
        except TransitionConflict:
            return

    # -- delete ------------------------------------------------------------------------------------

    async def _delete(self, store_id: str, *, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            previous.cancel()
            await asyncio.wait({previous})
        store = await Store.get_or_none(id=store_id)
        if store is None or store.status != StoreStatus.DELETING:
            return
        self._observer.track(store)
        exists, owner = await retrying(
            lambda: namespace_owner(self._api, name=store.namespace),
            what=f"reading the namespace of store {store_id}",
            backoff=self._backoff,
        )
        if exists and owner == store.id:
            async with self._uninstall_slots:
                await retrying(
                    lambda: self._uninstall(store),
                    what=f"uninstalling store {store_id}",
                    backoff=self._backoff,
                )
            await self._event(
                store,
                "HelmUninstalled",
                f"helm uninstalled release {store.helm_release}",
                source=EventSource.HELM,
                kind="Release",
                name=store.helm_release,
            )
            await retrying(
                lambda: delete_namespace(self._api, name=store.namespace),
                what=f"deleting the namespace of store {store_id}",
                backoff=self._backoff,
            )
            await self._event(
                store,
                "NamespaceDeleting",
                f"Namespace {store.namespace} deletion requested",
                source=EventSource.API,
                kind="Namespace",
                name=store.namespace,
            )
            # No deadline: a namespace stuck on a finalizer keeps the store Deleting, visibly, until it goes.
            await self._observer.wait_namespace_gone(store.id, store.namespace)
        elif exists:
            log.warning(
                "store %s: namespace %s is not ours (store-id %s), left alone",
                store_id,
                store.namespace,
                owner,
            )
        await self._transition(store, StoreStatus.DELETED, f"Store {store.name} deleted")
        self._observer.untrack(store.id)


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s died", task.get_name(), exc_info=task.exception())
