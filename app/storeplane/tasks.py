"""Guarded background tasks: the one place that names, logs, cancels and awaits Storeplane's tasks.

Every long-lived task is started with `start_task`: it is named `<kind>` or `<kind>:<detail>`, its kind is a
value (`TaskKind`) that its owner can ask for later, and a task that dies of an exception is logged with its
traceback at once (asyncio would only mention it when the task is garbage-collected, if ever). Owners stop
their tasks with `stop_tasks`: cancel every one first, then await them all, so that none outlives its owner.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Coroutine, Iterable
from enum import StrEnum
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class TaskKind(StrEnum):
    WATCH = "watch"
    """One watcher's list-then-watch loop (k8s/watcher.py, started by k8s/watchset.py)."""
    OBSERVER = "observer"
    """The observer's consumer of watch events."""
    DATABASE_LOCK = "database-lock"
    """The watchdog of the connection that holds PostgreSQL's advisory lock (db/exclusive.py)."""
    EVENT_WRITER = "event-writer"
    """The single StoreEvent writer."""
    PROVISION_WORKER = "provision-worker"
    """One of the workers that bound helm installs."""
    INSTALL = "install"
    """A store's namespace and helm install."""
    WAIT_READY = "ready"
    """A store's wait for readiness, after its install."""
    DELETE = "delete"
    """A store's uninstall and namespace deletion."""
    CLUSTER_HEALTH = "cluster-health"
    """The provisioner's look at the watches' health, to tell waiting stores the API is failing."""
    RETRY_LATER = "retry-later"
    """A store whose task failed unexpectedly, waiting to be handed back to its install or delete."""
    RECONCILER = "reconciler"
    """Resume at start, then drift checks."""
    SWEEPER = "sweeper"
    """The reconciler's periodic sweep for stores in flight that no task serves."""


_kinds: weakref.WeakKeyDictionary[asyncio.Task[Any], TaskKind] = weakref.WeakKeyDictionary()


def start_task(
    coroutine: Coroutine[Any, Any, T], *, kind: TaskKind, detail: str | None = None
) -> asyncio.Task[T]:
    """Run `coroutine` as a task named after its kind (and `detail`, e.g. a store id); log it if it dies."""
    name = str(kind) if detail is None else f"{kind}:{detail}"
    task = asyncio.create_task(coroutine, name=name)
    _kinds[task] = kind
    task.add_done_callback(_log_death)
    return task


def kind_of(task: asyncio.Task[Any]) -> TaskKind | None:
    """The kind a task was started with; None for a task not started by `start_task`."""
    return _kinds.get(task)


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel every task, then wait until all have ended (whatever they raise: it was logged already)."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


def _log_death(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s died", task.get_name(), exc_info=task.exception())
