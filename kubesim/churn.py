"""A steady stream of writes at a set rate, each recorded with its time, for latency benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Any

from kubesim.controllers.events import record_event
from kubesim.object_store import ObjectStore
from kubesim.resources import resource

PODS = resource("", "pods")


@dataclass
class ChurnWrite:
    """One write: its sequence number, resourceVersion and wall-clock time (time.time())."""

    seq: int
    resource_version: str
    namespace: str
    name: str
    at: float


EVENT_TYPES = ("Normal", "Warning")
DEFAULT_REASON = "KubesimChurn"


@dataclass(frozen=True)
class ChurnEvent:
    """What the Events of mode `event` say: a Normal "KubesimChurn" unless asked otherwise."""

    type: str = "Normal"
    reason: str = DEFAULT_REASON


@dataclass
class Churn:
    """Writes pod Events (mode `event`) or pod status changes (mode `pod-status`) at `rate` per second."""

    object_store: ObjectStore
    records: list[ChurnWrite] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(
        self,
        *,
        rate: float,
        count: int,
        mode: str,
        namespace: str | None,
        event: ChurnEvent | None = None,
    ) -> None:
        if mode not in ("event", "pod-status"):
            raise ValueError("mode must be 'event' or 'pod-status'")
        if rate <= 0 or count <= 0:
            raise ValueError("rate and count must be positive")
        event = event or ChurnEvent()
        if event.type not in EVENT_TYPES:
            raise ValueError("eventType must be 'Normal' or 'Warning'")
        if not event.reason:
            raise ValueError("reason must not be empty")
        self.stop_nowait()
        self.records = []
        self._task = asyncio.create_task(self._run(rate, count, mode, namespace, event), name="kubesim-churn")

    def stop_nowait(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(
        self, rate: float, count: int, mode: str, namespace: str | None, event: ChurnEvent
    ) -> None:
        period = 1.0 / rate
        start = time.monotonic()
        targets: list[tuple[str, str]] = []
        refreshed = -1.0
        for seq in range(count):
            # Sleep to an absolute schedule so the rate does not drift with the cost of each write.
            await asyncio.sleep(max(0.0, start + seq * period - time.monotonic()))
            if time.monotonic() - refreshed > 1.0:
                # Sorting thousands of pods costs milliseconds: do it once a second, not on every write.
                targets = sorted(
                    (p["metadata"]["namespace"], p["metadata"]["name"])
                    for p in self.object_store.items(PODS, namespace)
                    if not p["metadata"].get("deletionTimestamp")
                )
                refreshed = time.monotonic()
            if not targets:
                continue
            pod = self.object_store.peek(PODS, *targets[seq % len(targets)])
            if pod is None:
                continue
            written = self._write(pod, seq, mode, event)
            if written is not None:
                meta = pod["metadata"]
                self.records.append(ChurnWrite(seq, written, meta["namespace"], meta["name"], time.time()))

    def _write(self, pod: dict[str, Any], seq: int, mode: str, event: ChurnEvent) -> str | None:
        if mode == "event":
            written = record_event(
                self.object_store,
                pod,
                reason=event.reason,
                message=f"churn {seq}",
                component="kubesim-churn",
                type_=event.type,
            )
            return None if written is None else str(written["metadata"]["resourceVersion"])
        updated = copy.deepcopy(pod)
        conditions = [
            c
            for c in updated.setdefault("status", {}).get("conditions", [])
            if c.get("type") != "KubesimChurn"
        ]
        conditions.append({"type": "KubesimChurn", "status": "True", "message": f"churn {seq}"})
        updated["status"]["conditions"] = conditions
        written = self.object_store.write_internal(PODS, updated)
        return str(written["metadata"]["resourceVersion"])

    def to_json(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "writes": [
                {
                    "seq": r.seq,
                    "resourceVersion": r.resource_version,
                    "namespace": r.namespace,
                    "name": r.name,
                    "at": r.at,
                }
                for r in self.records
            ],
        }
