"""The single event writer: every StoreEvent insert goes through one task, so ids appear in order.

Why one writer: with several concurrent inserting transactions, PostgreSQL hands out ids from its sequence
at insert time but makes them visible at commit, so a reader polling `id > cursor` can see N+1 before N
commits and skip N forever. One task inserting and committing in turn makes "visible" and "allocated" the
same order.
Queued events are inserted in batches, one transaction each, then published to the bus after the commit, as
EventRecords (frozen copies of the rows: every subscriber holds the same object).

A transient database failure (a write lock held elsewhere, a lost connection) does not fail the callers: the
batch is retried with backoff for as long as the writer runs. Each draft carries a unique key, so a retry
after a commit whose outcome was unknown finds the rows that did commit and does not write them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from storeplane.db.errors import is_transient
from storeplane.events.bus import EventBus
from storeplane.events.kinds import EventSource, EventType
from storeplane.events.models import StoreEvent
from storeplane.events.records import EventRecord
from storeplane.k8s.backoff import Backoff, RetryPolicy
from storeplane.tasks import TaskKind, start_task, stop_tasks

log = logging.getLogger(__name__)

# A held SQLite lock is waited for by busy_timeout first; these delays come on top of it.
DEFAULT_RETRY = RetryPolicy(initial=0.2, max=5.0, factor=2.0)


class EventWriterClosedError(RuntimeError):
    """write() was called while the writer is not running."""


@dataclass(frozen=True, kw_only=True)
class StoreEventDraft:
    """An event to be written; the writer assigns its id."""

    store_id: str
    type: EventType
    reason: str
    message: str
    source: EventSource
    involved_kind: str | None = None
    involved_name: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(eq=False)
class _Pending:
    draft: StoreEventDraft
    done: asyncio.Future[EventRecord]


class EventWriter:
    """Owns one background task; `start()` it in the app lifespan and `stop()` it on shutdown."""

    def __init__(
        self,
        *,
        bus: EventBus[EventRecord] | None = None,
        queue_size: int,
        batch_max: int,
        drain_timeout: float,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._bus = bus
        self._retry = retry
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        self._drain_timeout = drain_timeout
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._accepting

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("EventWriter already started")
        self._accepting = True
        self._task = start_task(self._run(), kind=TaskKind.EVENT_WRITER)

    async def stop(self) -> None:
        """Refuse new writes, commit what is queued (within the drain timeout), then cancel and await."""
        task, self._task = self._task, None
        if task is None:
            return
        self._accepting = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._drain_timeout):
                # The None marker sits behind every queued event: the task commits them all, then returns.
                await self._queue.put(None)
                await asyncio.wait({task})
        await stop_tasks([task])
        self._stopped = True
        self._fail_queued()

    async def write(self, draft: StoreEventDraft) -> EventRecord:
        """Queue the event and wait until it is committed; returns it with its id, as published.

        Cancelling the caller does not retract the event: once queued it is written and published.
        """
        return await (await self.submit(draft))

    async def submit(self, draft: StoreEventDraft) -> asyncio.Future[EventRecord]:
        """Queue the event (waiting only for room in the queue); the future resolves once it is committed.

        For a caller with several events at hand: their commits then share the writer's transactions instead
        of taking one round trip each. Await every future it returns.
        """
        if not self._accepting:
            raise EventWriterClosedError("the event writer is not running")
        pending = _Pending(draft, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        if self._stopped:
            # stop() finished while this call waited for room in the queue: nobody will read it now.
            self._fail_queued()
        return pending.done

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop_after = False
            while len(batch) < self._batch_max and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop_after = True
                    break
                batch.append(item)
            await self._write_batch(batch)
            if stop_after:
                return

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            events = await self._insert_retrying(batch)
        except asyncio.CancelledError:
            self._fail(batch, EventWriterClosedError("the event writer was stopped"))
            raise
        except Exception as exc:
            if len(batch) == 1:
                # A missing store or the database down fails this event's writer, never the writer task.
                log.warning("writing an event failed: %s", exc)
                self._fail(batch, exc)
                return
            # One bad event must not fail the others that happened to share its transaction: one at a time.
            for pending in batch:
                await self._write_batch([pending])
            return
        for pending, event in zip(batch, events, strict=True):
            if self._bus is not None:
                self._bus.publish(event)
            if not pending.done.done():  # the caller may have been cancelled
                pending.done.set_result(event)

    async def _insert_retrying(self, batch: list[_Pending]) -> list[EventRecord]:
        """Insert the batch, waiting out transient failures; a permanent one is raised."""
        backoff = Backoff(self._retry)
        retried = False
        while True:
            try:
                return await self._insert(batch, retried=retried)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = backoff.next_delay()
                log.warning(
                    "writing %d event(s) failed (%s); retrying in %.1fs",
                    len(batch),
                    type(exc).__name__,
                    delay,
                )
            retried = True
            await asyncio.sleep(delay)

    @staticmethod
    async def _insert(batch: list[_Pending], *, retried: bool) -> list[EventRecord]:
        events: list[EventRecord] = []
        async with in_transaction() as connection:
            # Only a retry can find its rows committed: the first attempt saves the query.
            committed = (
                {
                    row.key: row
                    for row in await StoreEvent.filter(key__in=[p.draft.key for p in batch]).using_db(
                        connection
                    )
                }
                if retried
                else {}
            )
            for pending in batch:
                draft = pending.draft
                if draft.key in committed:
                    events.append(EventRecord.of(committed[draft.key]))
                    continue
                row = await StoreEvent.create(
                    using_db=connection,
                    store_id=draft.store_id,
                    type=draft.type,
                    reason=draft.reason,
                    message=draft.message,
                    source=draft.source,
                    involved_kind=draft.involved_kind,
                    involved_name=draft.involved_name,
                    time=draft.time,
                    key=draft.key,
                )
                events.append(EventRecord.of(row))
        return events

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for pending in batch:
            if not pending.done.done():
                pending.done.set_exception(exc)

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None and not item.done.done():
                item.done.set_exception(EventWriterClosedError("the event writer stopped before this event"))
