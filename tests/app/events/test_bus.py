from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from storeplane.events.bus import EventBus


class Item:
    def __init__(self, n: int, store: str = "a") -> None:
        self.n = n
        self.store = store


async def test_every_subscriber_gets_the_same_object() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    subscriptions = [bus.subscribe() for _ in range(3)]
    item = Item(1)
    bus.publish(item)
    for subscription in subscriptions:
        assert await anext(subscription) is item


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
    subscription = bus.subscribe()
    most = 0
    for n in range(10_000):
        bus.publish(Item(n))
        most = max(most, subscription.pending)
    assert most == 8
    assert subscription.pending == 0  # dropped on the ninth: it holds nothing any more
    assert bus.subscriber_count == 0


async def test_closing_a_subscription_unsubscribes_and_wakes_its_consumer() -> None:
    bus: EventBus[Item] = EventBus(queue_size=8)
    subscription = bus.subscribe()
    started = asyncio.Event()

    async def consume() -> list[int]:
        started.set()
        return [item.n async for item in subscription]

    consumer = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0)
    async with aclosing(subscription):
        assert bus.subscriber_count == 1
    assert bus.subscriber_count == 0
    assert await asyncio.wait_for(consumer, timeout=5) == []
    bus.publish(Item(1))  # publishing to nobody is fine
    assert subscription.close_reason is None


async def test_publish_never_waits_for_subscribers() -> None:
    bus: EventBus[Item] = EventBus(queue_size=1)
    subscriptions = [bus.subscribe() for _ in range(100)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(1000):
        bus.publish(Item(n))  # synchronous: it cannot await anything
    assert loop.time() - start < 1
    assert all(subscription.closed for subscription in subscriptions)


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        EventBus[Item](queue_size=0)
