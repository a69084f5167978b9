"""What every simulated controller runs on: a coalescing work queue and a set of keyed tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubesim.controllers.events import EventRecorder
from kubesim.controllers.index import ObjectIndex
from kubesim.faults import Faults
from kubesim.object_store import ObjectStore
from kubesim.settings import Settings

log = logging.getLogger("kubesim.controllers")

K = TypeVar("K", bound=Hashable)

# A worker hands the loop back after this many keys, so a burst of work cannot starve the HTTP server.
_BATCH = 50


class WorkQueue(Generic[K]):
    """Keys waiting for a synchronous handler; a key queued twice before it is handled runs once.

    Like client-go's workqueue: listeners only add keys, one worker task calls the handler, and
    `add_after` requeues a key later (the earliest pending timer per key wins).
    """

    def __init__(self, name: str, handler: Callable[[K], None]) -> None:
        self.name = name
        self._handler = handler
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._pending: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def add(self, key: K) -> None:
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def run(self) -> None:
        handled = 0
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            try:
                self._handler(key)
            except Exception:
                log.exception("%s: syncing %r failed", self.name, key)
            handled += 1
            if handled % _BATCH == 0:
                await asyncio.sleep(0)

    def cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


class TaskSet:
    """Named asyncio tasks keyed by what they work on (a pod's uid), cancelled one by one or all on stop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        # Cancelled tasks still unwinding: stop() awaits them too, so none outlives the controllers.
        self._cancelled: set[asyncio.Task[None]] = set()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._tasks

    def spawn(self, key: Hashable, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        """Start `coro` under `key`, unless a task with that key is running (then `coro` is closed unused)."""
        if key in self._tasks:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._done(key, t))

    def _done(self, key: Hashable, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        self._cancelled.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s died", task.get_name(), exc_info=task.exception())

    def cancel(self, key: Hashable) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
            self._cancelled.add(task)

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *self._cancelled]
        self._tasks.clear()
        self._cancelled.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Context:
    """What the controllers share: the object store, settings, faults, object index and event recorder."""

    object_store: ObjectStore
    settings: Settings
    faults: Faults
    index: ObjectIndex
    events: EventRecorder
