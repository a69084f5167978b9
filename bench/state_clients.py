"""Idle GraphQL subscribers in a process of their own, for bench/state.py.

The parent writes one JSON line to stdin: `{"url": ws_url, "subscriptions": [{"query", "variables",
"expect"}, ...], "concurrency": n, "timeout": s}`. Each subscription gets its own websocket
(graphql-transport-ws), as each browser tab has. Once all are open and each has received `expect` messages
(a replay), it prints `{"type": "ready", ...}`; then, for each `counts` line on stdin, it prints
`{"type": "counts", "received": [...]}` (messages per subscription so far). When stdin closes, it closes
every socket and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.stack import open_subscription


@dataclass
class Subscriber:
    query: str
    variables: dict[str, Any]
    expect: int
    received: int = 0
    problems: list[str] = field(default_factory=list)
    ws: ClientConnection | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once `expect` messages have come, or the subscription has ended."""

    async def read(self) -> None:
        """Count `next` messages; anything else the server sends (error, complete, a close) is a problem."""
        assert self.ws is not None
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next" and not message.get("payload", {}).get("errors"):
                    self.received += 1
                    if self.received >= self.expect:
                        self.settled.set()
                elif kind == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                elif kind != "pong":
                    self.problems.append(json.dumps(message)[:300])
        except ConnectionClosed as exc:
            self.problems.append(f"closed: {exc}")
        else:
            self.problems.append("closed by the server")
        finally:
            self.settled.set()


def _emit(message: dict[str, Any]) -> None:
    print(json.dumps(message, separators=(",", ":")), flush=True)


def _raise_file_limit(needed: int) -> None:
    # One descriptor per socket: lift the soft limit towards the hard one when the default would not do.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def run() -> None:
    spec = json.loads(await asyncio.to_thread(sys.stdin.readline))
    subscribers = [
        Subscriber(query=s["query"], variables=s.get("variables") or {}, expect=int(s.get("expect", 0)))
        for s in spec["subscriptions"]
    ]
    _raise_file_limit(len(subscribers) + 256)
    gate = asyncio.Semaphore(int(spec.get("concurrency", 50)))
    readers: list[asyncio.Task[None]] = []
    failures: list[str] = []

    async def open_one(number: int, subscriber: Subscriber) -> None:
        async with gate:
            try:
                subscriber.ws = await open_subscription(spec["url"], subscriber.query, subscriber.variables)
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}"[:300])
                subscriber.settled.set()
                return
        if subscriber.expect <= 0:
            subscriber.settled.set()
        readers.append(asyncio.create_task(subscriber.read(), name=f"subscriber-{number}"))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(open_one(n, s) for n, s in enumerate(subscribers)))
        opened_s = time.perf_counter() - started
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(float(spec.get("timeout", 120))):
                await asyncio.gather(*(s.settled.wait() for s in subscribers))
        problems = [p for s in subscribers for p in s.problems]
        _emit(
            {
                "type": "ready",
                "opened": sum(1 for s in subscribers if s.ws is not None),
                "open_s": round(opened_s, 3),
                "replay_s": round(time.perf_counter() - started, 3),
                "received": sum(s.received for s in subscribers),
                "expected": sum(s.expect for s in subscribers),
                "short": sum(1 for s in subscribers if s.received < s.expect),
                "problems": len(problems) + len(failures),
                "first_problems": (failures + problems)[:5],
            }
        )
        while line := await asyncio.to_thread(sys.stdin.readline):
            if line.strip() == "counts":
                _emit(
                    {
                        "type": "counts",
                        "received": [s.received for s in subscribers],
                        "problems": sum(len(s.problems) for s in subscribers),
                    }
                )
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        sockets = [s.ws for s in subscribers if s.ws is not None]
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
