from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise.exceptions import IntegrityError

from storeplane.events.bus import EventBus
from storeplane.events.kinds import EventSource, EventType
from storeplane.events.models import StoreEvent
from storeplane.events.records import EventRecord
from storeplane.events.writer import EventWriter, EventWriterClosedError, StoreEventDraft
from storeplane.settings import Settings
from storeplane.tasks import TaskKind, kind_of
from tests.app.database_helpers import create_store, make_settings, open_database, sqlite_write_lock

WRITERS = 20
EVENTS_PER_WRITER = 50


def draft(store_id: str, message: str) -> StoreEventDraft:
    return StoreEventDraft(
        store_id=store_id,
        type=EventType.NORMAL,
        reason="Test",
        message=message,
        source=EventSource.API,
        involved_kind="Pod",
        involved_name="db-0",
    )


def make_writer(settings: Settings, bus: EventBus[EventRecord] | None = None) -> EventWriter:
    return EventWriter(
        bus=bus,
        queue_size=settings.event_writer_queue_size,
        batch_max=settings.event_writer_batch_max,
        drain_timeout=settings.event_writer_drain_timeout_seconds,
    )


@pytest.fixture
async def settings(tmp_path: Path) -> AsyncIterator[Settings]:
    async with open_database(make_settings(tmp_path)) as settings:
        yield settings


async def test_concurrent_writes_become_visible_in_id_order_without_gaps(settings: Settings) -> None:
    stores = [await create_store(f"shop-{n}") for n in range(4)]
    bus: EventBus[EventRecord] = EventBus(queue_size=WRITERS * EVENTS_PER_WRITER)
    published = bus.subscribe()
    writer = make_writer(settings, bus)
    writer.start()
    done = asyncio.Event()
    seen: list[int] = []

    async def read() -> None:
        # A reader polling `id > cursor`, as a subscription replay does: every poll must continue exactly
        # where the last one stopped. Seeing N+1 before N would show up as a gap here.
        cursor = 0
        while True:
            finished = done.is_set()
            ids = [event.id for event in await StoreEvent.filter(id__gt=cursor).order_by("id")]
            assert ids == list(range(cursor + 1, cursor + 1 + len(ids))), f"gap after {cursor}: {ids[:5]}"
            seen.extend(ids)
            cursor = ids[-1] if ids else cursor
            if finished:
                return
            await asyncio.sleep(0)

    async def write(n: int) -> list[int]:
        store = stores[n % len(stores)]
        return [(await writer.write(draft(store.id, f"{n}-{i}"))).id for i in range(EVENTS_PER_WRITER)]

    reader = asyncio.create_task(read())
    try:
        results = await asyncio.gather(*(write(n) for n in range(WRITERS)))
    finally:
        done.set()
        await reader
        await writer.stop()

    for ids in results:
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
    total = WRITERS * EVENTS_PER_WRITER
    assert seen == list(range(1, total + 1))
    bus.close()
    assert [event.id async for event in published] == list(range(1, total + 1))


async def test_published_event_is_the_committed_record_returned_to_the_writer(settings: Settings) -> None:
    store = await create_store("shop")
    bus: EventBus[EventRecord] = EventBus(queue_size=8)
    subscriber = bus.subscribe()
    writer = make_writer(settings, bus)
    writer.start()
    try:
        event = await writer.write(draft(store.id, "hello"))
        received = await anext(subscriber)
        assert received is event
        assert isinstance(received, EventRecord)  # a frozen value, not a row anyone could save
        row = await StoreEvent.get(id=received.id)
        assert (row.store_id, row.message, row.source, row.involved_name) == (
            store.id,
            "hello",
            "api",
            "db-0",
        )
        assert received == EventRecord.of(row)
    finally:
        await writer.stop()


async def test_a_bad_event_fails_only_its_own_write(settings: Settings) -> None:
    store = await create_store("shop")
    writer = make_writer(settings)
    writer.start()
    try:
        # Queued together, so they share a batch; the missing store violates the foreign key.
        results = await asyncio.gather(
            writer.write(draft(store.id, "one")),
            writer.write(draft("st-missing", "bad")),
            writer.write(draft(store.id, "two")),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert isinstance(results[1], IntegrityError)
    good = [result for result in results if isinstance(result, EventRecord)]
    assert [event.message for event in good] == ["one", "two"]
    assert good[0].id < good[1].id
    assert await StoreEvent.all().count() == 2


async def test_stop_commits_queued_events_then_refuses_writes(settings: Settings) -> None:
    store = await create_store("shop")
    writer = make_writer(settings)
    writer.start()
    pending = [asyncio.create_task(writer.write(draft(store.id, str(n)))) for n in range(300)]
    await asyncio.sleep(0)  # let them all queue
    await writer.stop()
    assert all(task.done() and not task.cancelled() and task.exception() is None for task in pending)
    assert await StoreEvent.all().count() == 300
    with pytest.raises(EventWriterClosedError):
        await writer.write(draft(store.id, "late"))
    await writer.stop()  # stopping twice is harmless


async def test_write_before_start_is_refused(settings: Settings) -> None:
    writer = make_writer(settings)
    with pytest.raises(EventWriterClosedError):
        await writer.write(draft("st-x", "early"))


async def test_submitted_events_are_committed_and_published_in_the_order_submitted(
    settings: Settings,
) -> None:
    store = await create_store("shop-submit")
    bus: EventBus[EventRecord] = EventBus(queue_size=10)
    published = bus.subscribe()
    writer = make_writer(settings, bus)
    writer.start()
    try:
        # Queued without waiting for each commit (as the observer does with a batch of watch events).
        futures = [await writer.submit(draft(store.id, f"m{n}")) for n in range(5)]
        events = [await future for future in futures]
    finally:
        await writer.stop()
        bus.close()
    assert [event.message for event in events] == [f"m{n}" for n in range(5)]
    assert [event.id for event in events] == list(range(events[0].id, events[0].id + 5))
    assert [event async for event in published] == events


async def test_the_writer_runs_as_a_guarded_task_of_its_kind_until_stopped(settings: Settings) -> None:
    def writer_tasks() -> list[asyncio.Task[object]]:
        return [task for task in asyncio.all_tasks() if kind_of(task) is TaskKind.EVENT_WRITER]

    writer = make_writer(settings)
    writer.start()
    [task] = writer_tasks()
    assert task.get_name() == "event-writer"
    await writer.stop()
    assert task.done()
    assert writer_tasks() == []


async def test_a_held_write_lock_delays_a_write_but_does_not_fail_it(tmp_path: Path) -> None:
    async with open_database(make_settings(tmp_path, database_busy_timeout_ms=100)) as settings:
        store = await create_store("shop")
        writer = make_writer(settings)
        writer.start()
        try:
            async with sqlite_write_lock(settings, seconds=1.5) as holder:
                written = await asyncio.wait_for(writer.write(draft(store.id, "during the lock")), timeout=30)
                assert holder.done()  # it could only commit after the lock was released
        finally:
            await writer.stop()
        assert [e.message for e in await StoreEvent.filter(store_id=store.id)] == ["during the lock"]
        assert written.message == "during the lock"


async def test_a_retry_after_an_unknown_commit_writes_no_duplicate(tmp_path: Path) -> None:
    async with open_database(make_settings(tmp_path, database_busy_timeout_ms=100)) as settings:
        store = await create_store("shop")
        event = draft(store.id, "committed once")

        def commit_it_first(connection: sqlite3.Connection) -> None:
            # As if the writer's own first attempt had committed and only the answer was lost.
            connection.execute(
                "INSERT INTO store_event (store_id, time, type, reason, message, source, key) "
                "VALUES (?, ?, 'Normal', 'Test', 'committed once', 'api', ?)",
                (store.id, event.time.isoformat(), event.key),
            )

        writer = make_writer(settings)
        writer.start()
        try:
            async with sqlite_write_lock(settings, seconds=1.0, before_release=commit_it_first):
                written = await asyncio.wait_for(writer.write(event), timeout=30)
        finally:
            await writer.stop()
        rows = await StoreEvent.filter(store_id=store.id)
        assert [(row.id, row.key) for row in rows] == [(written.id, event.key)]
