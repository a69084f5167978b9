"""The WatchSet: one Watcher per kind as guarded tasks; a watcher that crashes is logged and restarted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType, TracebackType

from storeplane.k8s.backoff import Backoff
from storeplane.k8s.client import KubeApi
from storeplane.k8s.watcher import Sink, Watcher, WatcherHealth
from storeplane.k8s.watchspec import WatchSettings, WatchSpec
from storeplane.tasks import TaskKind, start_task, stop_tasks

log = logging.getLogger(__name__)


class WatchSet:
    """Owns one Watcher per spec as named, guarded tasks; a crashed watcher is logged and restarted.

    Use as `async with WatchSet(api, STOREPLANE_WATCHES, sink=...) as watches:`; stop() cancels every task
    and awaits it. The ApiClient stays the caller's to close.
    """

    def __init__(
        self,
        api: KubeApi,
        specs: Iterable[WatchSpec],
        *,
        settings: WatchSettings | None = None,
        sink: Sink | None = None,
    ) -> None:
        self.settings = settings or WatchSettings()
        self._watchers: dict[str, Watcher] = {}
        for spec in specs:
            if spec.name in self._watchers:
                raise ValueError(f"two watches named {spec.name!r}")
            self._watchers[spec.name] = Watcher(api, spec, settings=self.settings, sink=sink)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def watchers(self) -> Mapping[str, Watcher]:
        return MappingProxyType(self._watchers)

    def __getitem__(self, name: str) -> Watcher:
        return self._watchers[name]

    @property
    def tasks(self) -> tuple[asyncio.Task[None], ...]:
        return tuple(self._tasks.values())

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("WatchSet already started")
        for name, watcher in self._watchers.items():
            self._tasks[name] = start_task(self._guard(watcher), kind=TaskKind.WATCH, detail=name)

    async def stop(self) -> None:
        """Cancel every watcher, then await them all; safe to call twice."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        await stop_tasks(tasks)

    async def __aenter__(self) -> WatchSet:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_synced(self) -> None:
        """Until every watcher has delivered its initial list (wrap it in a timeout)."""
        await asyncio.gather(*(watcher.wait_synced() for watcher in self._watchers.values()))

    @property
    def synced(self) -> bool:
        return all(watcher.synced for watcher in self._watchers.values())

    @property
    def healthy(self) -> bool:
        return all(watcher.health().healthy for watcher in self._watchers.values())

    def health(self) -> dict[str, WatcherHealth]:
        return {name: watcher.health() for name, watcher in self._watchers.items()}

    async def _guard(self, watcher: Watcher) -> None:
        # Restarting is the WatchSet's own policy, beyond what start_task does (log a task that dies): a
        # watcher that crashes is restarted with backoff, and its relist against the cache loses nothing.
        policy = self.settings.retry_policy
        backoff = Backoff(policy)
        while True:
            started = time.monotonic()
            try:
                await watcher.run()
            except Exception as exc:
                watcher.record_crash(exc)
                if time.monotonic() - started > policy.max:
                    backoff.reset()  # it ran well for a while: this is a new failure, not a crash loop
                delay = backoff.next_delay()
                log.exception("watch %s crashed; restarting in %.2fs", watcher.spec.name, delay)
                await asyncio.sleep(delay)
