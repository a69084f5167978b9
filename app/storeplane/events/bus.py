"""In-process pub/sub: every subscriber gets the same object, through a bounded queue of its own.

`publish` never waits: a subscriber whose queue is full is dropped (its queue emptied, so a slow consumer
cannot hold memory) and its iteration ends with `close_reason` saying why. The client then resubscribes
from its last cursor and replays the gap from the database.

Listeners are the other kind of receiver, for components that must see every item (the observer learns the
stores from StoreChanged): a callback run inside `publish`, before any subscriber is offered the item, so
it is never dropped. It must be quick and must not block: it runs in the publisher's call.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

Filter = Callable[[T], bool]
Listener = Callable[[T], None]


class _Closed:
    """Queue marker: the subscriber ended; wake the consumer."""


_CLOSED = _Closed()


class BusSubscriber(Generic[T]):
    """An async iterator over published items that match its filter, through its own bounded queue.

    Close it (`aclose()`, `async with`, or `contextlib.aclosing`) to unsubscribe; ending the iteration on a
    drop also unsubscribes.
    """

    def __init__(self, bus: EventBus[T], accept: Filter[T] | None, queue_size: int) -> None:
        self._bus = bus
        self._accept = accept
        self._queue: asyncio.Queue[T | _Closed] = asyncio.Queue(maxsize=queue_size)
        self._closed = False
        self._marker_queued = False
        self.close_reason: str | None = None
        """Why the bus ended this subscriber (None while open or after a normal close)."""

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Items delivered to this subscriber and not yet consumed."""
        return self._queue.qsize() - int(self._marker_queued)

    def __aiter__(self) -> BusSubscriber[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _Closed):
            self._marker_queued = False
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        self._close(None, discard=True)

    async def __aenter__(self) -> BusSubscriber[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _offer(self, item: T) -> None:
        """Called by the bus for every published item; never blocks."""
        if self._closed or (self._accept is not None and not self._accept(item)):
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # Free what it holds now rather than when the consumer gets round to it.
            self._close(f"subscriber too slow: {self._queue.maxsize + 1} events behind", discard=True)

    def _close(self, reason: str | None, *, discard: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        self._bus._remove(self)
        if discard:
            while not self._queue.empty():
                self._queue.get_nowait()
        if self._queue.full():
            return  # the consumer is not waiting: it sees _closed and an empty queue once it has drained
        # Wakes a consumer blocked in get(); it ends the iteration.
        self._queue.put_nowait(_CLOSED)
        self._marker_queued = True


class EventBus(Generic[T]):
    def __init__(self, *, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscribers: dict[int, BusSubscriber[T]] = {}
        self._listeners: dict[int, Listener[T]] = {}
        self._listener_keys = itertools.count()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def subscribe(self, accept: Filter[T] | None = None) -> BusSubscriber[T]:
        """Subscribe to items published from now on that `accept` (if given) returns True for."""
        subscriber = BusSubscriber(self, accept, self._queue_size)
        self._subscribers[id(subscriber)] = subscriber
        return subscriber

    def listen(self, callback: Listener[T]) -> Callable[[], None]:
        """Call `callback(item)` inside every later `publish`, before the subscribers; returns the unlisten.

        A listener is never dropped, and one that raises is logged and does not stop the publish. It stays
        until unlistened, even past `close()`: its owner, not the bus, decides how long it lives.
        """
        # A key per call: the same callback may listen twice, and each unlisten removes only its own.
        key = next(self._listener_keys)
        self._listeners[key] = callback

        def unlisten() -> None:
            self._listeners.pop(key, None)

        return unlisten

    def publish(self, item: T) -> None:
        """Hand `item` itself (not a copy) to the listeners, then to each matching subscriber; never waits."""
        # Copies of the values: a listener may unlisten, and a drop inside _offer removes the subscriber.
        for callback in list(self._listeners.values()):
            try:
                callback(item)
            except Exception:
                log.exception("bus listener %r failed", callback)
        for subscriber in list(self._subscribers.values()):
            subscriber._offer(item)

    def close(self) -> None:
        """End every subscriber (on shutdown); their iterations finish after what they already hold."""
        for subscriber in list(self._subscribers.values()):
            subscriber._close(None, discard=False)

    def _remove(self, subscriber: BusSubscriber[T]) -> None:
        self._subscribers.pop(id(subscriber), None)
