"""The provisioner: a bounded pool of workers that install stores, and the tasks that wait and delete.

It acts on what the store's row records and reports through the one transition function
(stores/transitions.py), which commits each status before the work it announces:

- **install** (a worker, at most `provisioning_concurrency` at once, so never more helm installs than that):
  Pending -> Provisioning; create the labelled namespace (or reuse ours); `helm install` without --wait
  (provisioning/releases.py). Transient faults (API outage, helm killed by its deadline) are retried with
  backoff. The worker moves on to the next store as soon as helm is done: announcing the result waits for the
  database.
- **wait** (a task per store, outside the pool, so slow readiness does not block other installs): until the
  Observer says every workload is ready and the setup Job completed, driven by watch events, bounded by
  `provisioning_timeout_seconds` counted from the start of the install. Then Ready with the engine's URLs,
  or Failed with a reason naming what was not ready.
- **delete**: the caller has committed Deleting; the install or wait task is cancelled (the helm wrapper
  terminates a running helm), `helm uninstall` (at most `provisioning_concurrency` at once), the namespace
  deleted, and Deleted once the Namespace watch reports it gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from storeplane.engines.catalog import Catalog, Engine
from storeplane.events.models import EventSource, EventType
from storeplane.events.writer import EventWriter, StoreEventDraft
from storeplane.k8s.backoff import RetryPolicy
from storeplane.k8s.client import KubeApi
from storeplane.k8s.errors import describe
from storeplane.k8s.helm import Helm
from storeplane.k8s.retrying import retrying
from storeplane.observing.observer import Observer
from storeplane.provisioning.api_witness import ApiWitness
from storeplane.provisioning.errors import ProvisioningFailed
from storeplane.provisioning.namespaces import delete_namespace, ensure_namespace, namespace_owner
from storeplane.provisioning.releases import StoreReleases
from storeplane.settings import Settings
from storeplane.stores.changes import StoreChanges
from storeplane.stores.models import StoreStatus
from storeplane.stores.records import StoreRecord, load_store
from storeplane.stores.transitions import TransitionConflict, transition
from storeplane.tasks import TaskKind, kind_of, start_task, stop_tasks

log = logging.getLogger(__name__)

# After an unexpected failure, a store is tried again after 1 s, then 2, 4, ... up to a minute.
RETRY_LATER_FIRST_SECONDS = 1.0
RETRY_LATER_MAX_SECONDS = 60.0
# How often the watches' health is looked at for stores waiting to become ready.
HEALTH_LOOK_SECONDS = 1.0


def tls_enabled(values_file: Path) -> bool:
    """`environment.tls.enabled` of the environment's values file: the URL scheme (docs/chart.md)."""
    document = yaml.safe_load(values_file.read_text()) or {}
    tls = ((document.get("environment") or {}).get("tls")) or {}
    return bool(tls.get("enabled", False))


def waiting_for_cluster(store_id: str, namespace: str, *, why: str, then: str) -> StoreEventDraft:
    """The Warning that tells a store's history it waits for the Kubernetes API, and why."""
    return StoreEventDraft(
        store_id=store_id,
        type=EventType.WARNING,
        reason="WaitingForCluster",
        message=f"The Kubernetes API is failing ({why[:300]}); {then}",
        source=EventSource.API,
        involved_kind="Namespace",
        involved_name=namespace,
    )


class KubeProvisioner:
    """Implements the Provisioner protocol. Owns its tasks: start()/stop() or `async with`."""

    def __init__(
        self,
        *,
        settings: Settings,
        api: KubeApi,
        helm: Helm,
        catalog: Catalog,
        observer: Observer,
        writer: EventWriter,
        changes: StoreChanges,
        retry: RetryPolicy,
    ) -> None:
        self._settings = settings
        self._api = api
        self._releases = StoreReleases(
            helm=helm, settings=settings, witness=ApiWitness(api, observer.watches.health)
        )
        self._catalog = catalog
        self._observer = observer
        self._writer = writer
        self._changes = changes
        self._retry = retry
        self._tls = False
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        # The one task doing something for each store now: install, wait or delete.
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Deletes do not queue behind installs, but a burst of them must not start one helm per store at once
        # (each helm process takes tens of MB and a share of the API server): as many as install workers.
        self._uninstall_slots = asyncio.Semaphore(settings.provisioning_concurrency)
        # Consecutive unexpected failures per store, for the delay before it is tried again.
        self._failures: dict[str, int] = {}
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("provisioner already started")
        self._started = True
        self._tls = await asyncio.to_thread(tls_enabled, self._settings.values_file)
        for number in range(self._settings.provisioning_concurrency):
            self._workers.append(
                start_task(self._worker(), kind=TaskKind.PROVISION_WORKER, detail=str(number))
            )
        self._workers.append(start_task(self._tell_waiting_stores(), kind=TaskKind.CLUSTER_HEALTH))

    async def stop(self) -> None:
        """Cancel the workers and every store task, then await them all (helm is terminated by the wrapper).

        What was in flight stays in its status in the database; the next start resumes it.
        """
        tasks = [*self._workers, *self._tasks.values()]
        self._workers.clear()
        await stop_tasks(tasks)
        self._tasks.clear()

    async def __aenter__(self) -> KubeProvisioner:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def busy(self, store_id: str) -> bool:
        return store_id in self._queued or store_id in self._tasks

    # -- the Provisioner protocol ------------------------------------------------------------------

    async def submit(self, store_id: str) -> None:
        """Queue a store to install; the worker skips it unless it is Pending, Provisioning or Failed."""
        if self.busy(store_id):
            return
        self._queued.add(store_id)
        self._queue.put_nowait(store_id)

    async def request_delete(self, store_id: str) -> None:
        """Delete a store whose Deleting status is committed; no-op while its delete runs."""
        current = self._tasks.get(store_id)
        if current is not None and kind_of(current) == TaskKind.DELETE:
            return
        self._queued.discard(store_id)  # a queued install finds the store Deleting and skips it
        self._spawn(store_id, self._delete(store_id, previous=current), TaskKind.DELETE)

    # -- tasks -------------------------------------------------------------------------------------

    def _spawn(
        self, store_id: str, coroutine: Coroutine[Any, Any, None], kind: TaskKind
    ) -> asyncio.Task[None]:
        task = start_task(self._guarded(store_id, coroutine, kind), kind=kind, detail=store_id)
        self._tasks[store_id] = task

        task.add_done_callback(lambda finished: self._forget(store_id, finished))
        return task

    async def _guarded(self, store_id: str, coroutine: Coroutine[Any, Any, None], kind: TaskKind) -> None:
        """Run a store's task; if it fails unexpectedly (the database down, a bug), hand the store back later.

        The store's status is committed before any work it announces, so trying the same step again is safe.
        """
        try:
            await coroutine
        except Exception:
            failures = self._failures[store_id] = self._failures.get(store_id, 0) + 1
            delay = min(RETRY_LATER_MAX_SECONDS, RETRY_LATER_FIRST_SECONDS * 2 ** (failures - 1))
            log.exception("store %s: its %s task failed; trying again in %.0fs", store_id, kind, delay)
            again = self._delete_again if kind == TaskKind.DELETE else self._install_again
            self._spawn_retry(store_id, delay, again)
        else:
            self._failures.pop(store_id, None)

    def _spawn_retry(self, store_id: str, delay: float, again: Callable[[str], Awaitable[None]]) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            if self._tasks.get(store_id) is asyncio.current_task():
                del self._tasks[store_id]  # no longer busy: `again` may start the store's task
            await again(store_id)

        # Replaces the failed task as the store's one task: the sweep does not resume it meanwhile.
        task = start_task(later(), kind=TaskKind.RETRY_LATER, detail=store_id)
        self._tasks[store_id] = task
        task.add_done_callback(lambda finished: self._forget(store_id, finished))

    async def _install_again(self, store_id: str) -> None:
        await self.submit(store_id)

    async def _delete_again(self, store_id: str) -> None:
        await self.request_delete(store_id)

    def _forget(self, store_id: str, finished: asyncio.Task[None]) -> None:
        if self._tasks.get(store_id) is finished:
            del self._tasks[store_id]

    async def _tell_waiting_stores(self) -> None:
        """While the watches fail to reach the API, say so in the history of every store waiting to become
        ready or queued for a worker: neither makes a call of its own that would notice the outage.

        Looks at in-memory health once a second; one event per store per outage.
        """
        told: set[str] = set()
        while True:
            await asyncio.sleep(HEALTH_LOOK_SECONDS)
            failing = [
                f"{name}: {health.last_error}"
                for name, health in self._observer.watches.health().items()
                if health.consecutive_failures > 0
            ]
            if not failing:
                told.clear()
                continue
            waiting = [sid for sid, task in self._tasks.items() if kind_of(task) == TaskKind.WAIT_READY]
            for store_id, then in (
                *((sid, "the store's readiness is read again once the watches reconnect") for sid in waiting),
                *((sid, "its provisioning starts once the API answers") for sid in sorted(self._queued)),
            ):
                store = self._observer.store(store_id)
                if store_id in told or store is None:
                    continue
                told.add(store_id)
                await self._writer.submit(
                    waiting_for_cluster(store_id, store.namespace, why="; ".join(failing), then=then)
                )

    async def _worker(self) -> None:
        while True:
            store_id = await self._queue.get()
            if store_id not in self._queued:
                continue  # withdrawn by a delete
            self._queued.discard(store_id)
            if store_id in self._tasks:
                continue
            helm_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            task = self._spawn(store_id, self._install(store_id, helm_done), TaskKind.INSTALL)
            try:
                # Until helm is done with the store, not until the task ends: the workers bound helm runs,
                # and the event announcing the install waits for a database commit, which under a burst's
                # load takes a fair share of helm's own time. asyncio.wait, not await: a delete cancelling
                # this store's install must not end the worker.
                await asyncio.wait({task, helm_done}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                await stop_tasks([task])
                raise

    async def _move(
        self, store: StoreRecord, to: StoreStatus, message: str, *, urls: tuple[str, str] | None = None
    ) -> StoreRecord:
        return await transition(
            store, to, message=message, writer=self._writer, changes=self._changes, urls=urls
        )

    async def _event(
        self, store: StoreRecord, reason: str, message: str, *, source: EventSource, kind: str, name: str
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

    def _says_it_waits(self, store: StoreRecord) -> Callable[[BaseException, int], Awaitable[None]]:
        """An `on_retry` that tells the store's history, once per step, that it waits for the cluster."""

        async def waiting(error: BaseException, attempt: int) -> None:
            if attempt != 1:
                return
            await self._writer.write(
                waiting_for_cluster(
                    store.id,
                    store.namespace,
                    why=describe(error),
                    then="retrying until the provisioning deadline",
                )
            )

        return waiting

    async def _fail(self, store: StoreRecord, reason: str) -> None:
        # A conflict means it was deleted (or changed by the API) meanwhile: that decision stands.
        with contextlib.suppress(TransitionConflict):
            await self._move(store, StoreStatus.FAILED, reason)
        log.info("store %s failed: %s", store.id, reason)

    # -- install -----------------------------------------------------------------------------------

    async def _install(self, store_id: str, helm_done: asyncio.Future[None]) -> None:
        """Install the store's release; `helm_done` is set once no helm runs for it any more."""
        store = await load_store(store_id)
        if store is None or store.status not in (
            StoreStatus.PENDING,
            StoreStatus.PROVISIONING,
            StoreStatus.FAILED,
        ):
            return
        starting_over = store.status != StoreStatus.PROVISIONING
        timeout = self._settings.provisioning_timeout_seconds
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            if starting_over:
                store = await self._move(
                    store,
                    StoreStatus.PROVISIONING,
                    f"Provisioning {store.name} ({store.engine}) in namespace {store.namespace}",
                )
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
        self._spawn(store_id, self._await_ready(store, engine, deadline=deadline), TaskKind.WAIT_READY)

    async def _install_release(
        self, store: StoreRecord, engine: Engine, *, starting_over: bool, helm_done: asyncio.Future[None]
    ) -> None:
        what = f"store {store.id}"
        created = await retrying(
            lambda: ensure_namespace(self._api, name=store.namespace, store_id=store.id),
            what=f"creating the namespace of {what}",
            policy=self._retry,
            on_retry=self._says_it_waits(store),
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
                lambda: self._releases.install(store, engine, starting_over=starting_over),
                what=f"installing the chart of {what}",
                policy=self._retry,
                on_retry=self._says_it_waits(store),
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

    # -- wait for readiness ------------------------------------------------------------------------

    async def _await_ready(self, store: StoreRecord, engine: Engine, *, deadline: float) -> None:
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
        storefront, admin = engine.urls(host=self._releases.host(store), tls=self._tls)
        ingress = next(
            (step.name(store.helm_release) for step in engine.steps if step.kind == "Ingress"), None
        )
        if ingress is not None:
            await self._event(
                store,
                "IngressReady",
                f"Ingress ready at {storefront}",
                source=EventSource.KUBERNETES,
                kind="Ingress",
                name=ingress,
            )
        with contextlib.suppress(TransitionConflict):
            await self._move(
                store,
                StoreStatus.READY,
                f"Store {store.name} is ready at {storefront}",
                urls=(storefront, admin),
            )

    # -- delete ------------------------------------------------------------------------------------

    async def _delete(self, store_id: str, *, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await stop_tasks([previous])
        store = await load_store(store_id)
        if store is None or store.status != StoreStatus.DELETING:
            return
        exists, owner = await retrying(
            lambda: namespace_owner(self._api, name=store.namespace),
            what=f"reading the namespace of store {store_id}",
            policy=self._retry,
            on_retry=self._says_it_waits(store),
        )
        if exists and owner == store.id:
            async with self._uninstall_slots:
                await retrying(
                    lambda: self._releases.uninstall(store),
                    what=f"uninstalling store {store_id}",
                    policy=self._retry,
                    on_retry=self._says_it_waits(store),
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
                policy=self._retry,
                on_retry=self._says_it_waits(store),
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
        await self._move(store, StoreStatus.DELETED, f"Store {store.name} deleted")
