"""GraphQL `storeEvents` subscribers in a process of their own, driven by bench.event_latency.

Run as `python -m bench.event_clients --url ws://.../graphql --count N [--store-id ID] [--after ID]`: it
opens N websockets (graphql-transport-ws), one subscription each, says `{"ready": ...}` on stdout, then
answers one JSON line per command read from stdin: `status`, `take` (the arrivals since the last take) and
`quit`. Each message is only stamped (`time.time()`) and kept as it arrives; parsing waits for a command,
so the measurement is not paced by this process's JSON decoding.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.stack import REPO, TOKEN, open_subscription

SUBSCRIPTION = """
subscription Follow($storeId: ID, $after: ID) {
  storeEvents(storeId: $storeId, after: $after) {
    id storeId time type source reason message involvedKind involvedName
  }
}
"""
# kubesim's churn writes Events with the message "churn <seq>"; Storeplane relays it inside its own text.
CHURN_SEQ = re.compile(r"\bchurn (\d+)\b")
STOP_TIMEOUT = 30.0
"""Seconds a worker gets to close its websockets after `quit` before its process group is killed."""

Obj = dict[str, Any]


@dataclass
class Subscriber:
    """One websocket with one subscription; `events` counts the `next` messages parsed so far."""

    index: int
    ws: ClientConnection
    events: int = 0
    ended: str | None = None
    """Why the subscription ended: the server's error or complete message, or the websocket closing."""


@dataclass
class Clients:
    """The subscribers of this process and what they received, stamped and unparsed until asked."""

    subscribers: list[Subscriber] = field(default_factory=list)
    connect_errors: list[str] = field(default_factory=list)
    _raw: list[tuple[int, float, str | bytes]] = field(default_factory=list)
    _parsed: int = 0
    _arrivals: list[tuple[int, float, int, int | None, float]] = field(default_factory=list)
    """(subscriber, arrival time, StoreEvent id, churn seq or None, the StoreEvent's `time`)."""
    _errors: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(
        self, *, url: str, token: str, count: int, variables: Obj, concurrency: int, first_index: int
    ) -> None:
        """Open `count` subscriptions, `concurrency` handshakes at a time; failures are kept, not raised."""
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                try:
                    ws = await open_subscription(url, SUBSCRIPTION, variables, token=token)
                except (OSError, TimeoutError, ConnectionClosed, RuntimeError) as exc:
                    self.connect_errors.append(f"subscriber {index}: {exc!r}")
                    return
            subscriber = Subscriber(index, ws)
            self.subscribers.append(subscriber)
            self._tasks.append(asyncio.create_task(self._read(subscriber), name=f"subscriber-{index}"))

        await asyncio.gather(*(one(first_index + n) for n in range(count)))

    async def _read(self, subscriber: Subscriber) -> None:
        # The hot loop: stamp and keep. A message is parsed later, in _parse().
        try:
            async for message in subscriber.ws:
                self._raw.append((subscriber.index, time.time(), message))
        except ConnectionClosed as exc:
            # Its text says who closed and why (a keepalive ping timeout, the server going away).
            subscriber.ended = subscriber.ended or f"websocket closed: {exc}"
        subscriber.ended = subscriber.ended or f"websocket closed: {subscriber.ws.close_code}"

    def _parse(self) -> None:
        by_index = {s.index: s for s in self.subscribers}
        for index, arrived, raw in self._raw[self._parsed :]:
            message = json.loads(raw)
            subscriber = by_index[index]
            payload = message.get("payload") or {}
            if message.get("type") == "next" and not payload.get("errors"):
                event = payload["data"]["storeEvents"]
                found = CHURN_SEQ.search(event["message"])
                seq = int(found.group(1)) if found else None
                made = datetime.fromisoformat(event["time"]).timestamp()
                self._arrivals.append((index, arrived, int(event["id"]), seq, made))
                subscriber.events += 1
            else:
                # A drop (SUBSCRIPTION_DROPPED in `next` errors), an `error` or a `complete`: it has ended.
                text = f"subscriber {index}: {json.dumps(message)[:300]}"
                if subscriber.ended is None:
                    subscriber.ended = text
                self._errors.append(text)
        self._parsed = len(self._raw)

    def status(self) -> Obj:
        self._parse()
        # A subscription that ended gets no more: the parent counts it as a drop rather than wait for it.
        live = [s.events for s in self.subscribers if s.ended is None]
        return {
            "subscribers": len(self.subscribers),
            "connect_errors": self.connect_errors[:5],
            "connect_failed": len(self.connect_errors),
            "ended": sum(1 for s in self.subscribers if s.ended is not None),
            "ended_reasons": [s.ended for s in self.subscribers if s.ended is not None][:5],
            "min_events": min(live, default=None),
            "events": sum(s.events for s in self.subscribers),
        }

    def take(self) -> Obj:
        """Everything received since the last take (then forgotten), with the status."""
        answer = self.status()
        answer["arrivals"] = self._arrivals
        answer["errors"] = self._errors
        self._arrivals, self._errors = [], []
        # status() has just parsed every raw message, with no await since: nothing is lost here.
        self._raw, self._parsed = [], 0
        for subscriber in self.subscribers:
            subscriber.events = 0
        return answer

    async def close(self) -> None:
        await asyncio.gather(*(s.ws.close() for s in self.subscribers), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


# -- the worker process ------------------------------------------------------------------------


def _reply(answer: Obj) -> None:
    sys.stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _serve(args: argparse.Namespace) -> None:
    variables: Obj = {"after": args.after}
    if args.store_id:
        variables["storeId"] = args.store_id
    clients = Clients()
    try:
        await clients.open(
            url=args.url,
            token=args.token,
            count=args.count,
            variables=variables,
            concurrency=args.concurrency,
            first_index=args.first_index,
        )
        _reply({"ready": True, **clients.status()})
        loop = asyncio.get_running_loop()
        commands = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
        # End of input (the parent is gone) ends the worker as `quit` does.
        while line := (await commands.readline()).decode().strip():
            if line == "quit":
                break
            if line == "status":
                _reply(clients.status())
            elif line == "take":
                _reply(clients.take())
            else:
                _reply({"error": f"unknown command {line!r}"})
    finally:
        await clients.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.event_clients", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--url", required=True, help="the server's websocket address, ws://host:port/graphql")
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--count", type=int, required=True, help="subscriptions to open, one websocket each")
    parser.add_argument("--store-id", help="follow one store (default: every store of the token's owner)")
    parser.add_argument("--after", help="event id to start after (default: replay from the first event)")
    parser.add_argument("--concurrency", type=int, default=50, help="websocket handshakes in flight")
    parser.add_argument("--first-index", type=int, default=0, help="number of the first subscriber")
    asyncio.run(_serve(parser.parse_args(argv)))


# -- the parent's handle -----------------------------------------------------------------------


@dataclass
class SubscriberProcess:
    """One worker process (`python -m bench.event_clients`) in a process group of its own."""

    url: str
    count: int
    log_path: Path
    store_id: str | None = None
    after: str | None = None
    first_index: int = 0
    concurrency: int = 50
    _proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    async def start(self, *, timeout: float) -> Obj:
        """Start the worker; return its status once every subscription is open (or failed to open)."""
        args = ["--url", self.url, "--count", str(self.count), "--concurrency", str(self.concurrency)]
        args += ["--first-index", str(self.first_index)]
        if self.store_id is not None:
            args += ["--store-id", self.store_id]
        if self.after is not None:
            args += ["--after", self.after]
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.event_clients",
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                start_new_session=True,
                # One answer carries every arrival of a measurement: megabytes on one line.
                limit=1 << 30,
            )
        return await self._answer(timeout)

    async def command(self, name: str, *, timeout: float = 120.0) -> Obj:
        assert self._proc is not None, "not started"
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{name}\n".encode())
        await self._proc.stdin.drain()
        return await self._answer(timeout)

    async def _answer(self, timeout: float) -> Obj:
        assert self._proc is not None, "not started"
        assert self._proc.stdout is not None
        async with asyncio.timeout(timeout):
            line = await self._proc.stdout.readline()
        if not line:
            code = await self._proc.wait()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"subscriber process exited with {code}:\n{tail}")
        answer: Obj = json.loads(line)
        return answer

    async def stop(self) -> None:
        """`quit`, then SIGKILL the group if it lingers; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.returncode is None and proc.stdin is not None:
                with contextlib.suppress(ConnectionError):
                    proc.stdin.write(b"quit\n")
                    await proc.stdin.drain()
                    proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await proc.wait()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
