from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing

import pytest

from storeplane.events.bus import BusSubscriber, EventBus


class Item:
    def __init__(self, n: int, store: str = "a") -> None:
        self.n = n
        self.store = store


async def test_every_subscriber_gets_the_same_object() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    subscribers: list[BusSubscriber[Item]] = [bus.subscribe() for _ in range(3)]
    item = Item(1)
    bus.publish(item)
    for subscriber in subscribers:
        assert await anext(subscriber) is item


async def test_filter_selects_what_a_subscriber_receives() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    only_b = bus.subscribe(lambda item: item.store == "b")
    for n, store in enumerate("abab"):
        bus.publish(Item(n, store))
    await only_b.aclose()
    assert [item.n async for item in only_b] == []
    only_b = bus.subscribe(lambda item: item.store == "b")
    for n, store in enumerate("abab"):
        bus.publish(Item(n, store))
    bus.close()
    assert [item.n async for item in only_b] == [1, 3]


async def test_slow_subscriber_is_dropped_with_a_reason_and_others_are_unaffected() -> None:
    bus: EventBus[Item] = EventBus(queue_size=4)
    slow = bus.subscribe()
    fast = bus.subscribe()
    received: list[int] = []

    async def consume() -> None:
        async for item in fast:
            received.append(item.n)

    consumer = asyncio.create_task(consume())
    for n in range(20):
        bus.publish(Item(n))
        await asyncio.sleep(0)  # the fast subscriber keeps up, the slow one never reads
    bus.close()
    await asyncio.wait_for(consumer, timeout=5)

    assert received == list(range(20))
    assert slow.closed
    assert slow.close_reason == "subscriber too slow: 5 events behind"
    assert slow.pending == 0
    assert [item async for item in slow] == []
    assert fast.close_reason is None
    assert bus.subscriber_count == 0


async def test_memory_stays_bounded_by_the_queue_size() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    subscriber = bus.subscribe()
    most = 0
    for n in range(10_000):
        bus.publish(Item(n))
        most = max(most, subscriber.pending)
    assert most == 8
    assert subscriber.pending == 0  # dropped on the ninth: it holds nothing any more
    assert bus.subscriber_count == 0


async def test_closing_a_subscriber_unsubscribes_and_wakes_its_consumer() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    subscriber = bus.subscribe()
    started = asyncio.Event()

    async def consume() -> list[int]:
        started.set()
        return [item.n async for item in subscriber]

    consumer = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0)
    async with aclosing(subscriber):
        assert bus.subscriber_count == 1
    assert bus.subscriber_count == 0
    assert await asyncio.wait_for(consumer, timeout=5) == []
    bus.publish(Item(1))  # publishing to nobody is fine
    assert subscriber.close_reason is None


async def test_publish_never_waits_for_subscribers() -> None:
    bus: EventBus[Item] = EventBus(queue_size=1)
    subscribers = [bus.subscribe() for _ in range(100)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(1000):
        bus.publish(Item(n))  # synchronous: it cannot await anything
    assert loop.time() - start < 1
    assert all(subscriber.closed for subscriber in subscribers)


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        EventBus[Item](queue_size=0)


async def test_a_listener_sees_each_item_before_any_subscriber_is_offered_it() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    subscriber = bus.subscribe()
    seen: list[tuple[int, int]] = []
    # What the subscriber holds when the listener runs: nothing of this item yet.
    bus.listen(lambda item: seen.append((item.n, subscriber.pending)))
    bus.publish(Item(1))
    bus.publish(Item(2))
    assert seen == [(1, 0), (2, 1)]
    assert [(await anext(subscriber)).n for _ in range(2)] == [1, 2]


async def test_a_listener_is_never_dropped_however_many_items_it_gets() -> None:
    bus: EventBus[Item] = EventBus(queue_size=1)
    seen: list[int] = []
    bus.listen(lambda item: seen.append(item.n))
    slow = bus.subscribe()
    for n in range(100):
        bus.publish(Item(n))
    assert seen == list(range(100))
    assert slow.closed  # the queued subscriber was dropped, the listener was not
    assert bus.listener_count == 1


async def test_a_failing_listener_is_logged_and_the_publish_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    subscriber = bus.subscribe()
    after: list[int] = []

    def broken(item: Item) -> None:
        raise RuntimeError(f"listener broke on {item.n}")

    bus.listen(broken)
    bus.listen(lambda item: after.append(item.n))
    with caplog.at_level(logging.ERROR, logger="storeplane.events.bus"):
        bus.publish(Item(7))
    assert after == [7]
    assert (await anext(subscriber)).n == 7
    [record] = caplog.records
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "listener broke on 7"


async def test_unlisten_stops_only_its_own_listener_and_may_be_called_twice() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    seen: list[str] = []

    def record(item: Item) -> None:
        seen.append(item.store)

    unlisten_first = bus.listen(record)
    bus.listen(record)  # the same callback twice: two listeners
    bus.publish(Item(1, "x"))
    unlisten_first()
    unlisten_first()
    bus.publish(Item(2, "y"))
    assert seen == ["x", "x", "y"]
    assert bus.listener_count == 1


async def test_a_listener_may_unlisten_itself_while_the_item_is_published() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    seen: list[int] = []
    unlisten: Callable[[], None] | None = None

    def once(item: Item) -> None:
        seen.append(item.n)
        assert unlisten is not None
        unlisten()

    unlisten = bus.listen(once)
    others: list[int] = []
    bus.listen(lambda item: others.append(item.n))
    bus.publish(Item(1))
    bus.publish(Item(2))
    assert (seen, others) == ([1], [1, 2])


async def test_closing_the_bus_ends_the_subscribers_but_keeps_the_listeners() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    seen: list[int] = []
    bus.listen(lambda item: seen.append(item.n))
    subscriber = bus.subscribe()
    bus.close()
    bus.publish(Item(1))
    assert subscriber.closed
    assert seen == [1]
