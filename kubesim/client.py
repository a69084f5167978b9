"""A Python client for the `/_kubesim/` control endpoint (faults, counters, churn)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp


class ControlClient:
    """Async client for one kubesim's control endpoint; use as an async context manager."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/") + "/_kubesim"
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ControlClient:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._session is not None, "use ControlClient as an async context manager"
        async with self._session.request(method, self.base_url + path, json=body) as response:
            data = await response.json()
            if response.status >= 400:
                raise RuntimeError(f"kubesim control {method} {path}: {response.status} {data}")
            return data

    async def metrics(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/metrics"))

    async def reset_metrics(self) -> None:
        await self._call("POST", "/metrics/reset")

    async def add_fault(self, action: str, *, namespace: str = "*", name: str = "*") -> None:
        """Break matching objects: never-ready, crash-loop, fail-job, pvc-pending, image-pull-error or
        certificate-pending."""
        await self._call("POST", "/faults", {"action": action, "namespace": namespace, "name": name})

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def set_latency(self, seconds: float) -> None:
        await self._call("POST", "/latency", {"seconds": seconds})

    async def outage(self, seconds: float, *, code: int = 503, kind: str | None = None) -> None:
        """Answer every Kubernetes request with `code` for `seconds`; or, with `kind` (faults.OUTAGE_KINDS),
        as a real API server fails: "unavailable", "etcd", "throttled", or "restart" (connections refused,
        control requests included, until it is over)."""
        body: dict[str, object] = {"seconds": seconds, "code": code}
        if kind is not None:
            body["kind"] = kind
        await self._call("POST", "/outage", body)

    async def cut_watches(self) -> int:
        return int((await self._call("POST", "/watches/cut"))["cut"])

    async def expire_next_watch(self) -> None:
        await self._call("POST", "/watches/expire-next")

    async def compact(self) -> int:
        return int((await self._call("POST", "/compact"))["compactedResourceVersion"])

    async def start_churn(
        self,
        *,
        rate: float,
        count: int,
        mode: str = "event",
        namespace: str | None = None,
        event_type: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Start writing pod Events (of `event_type` and `reason`, in mode `event`) or pod status changes."""
        body: dict[str, Any] = {"rate": rate, "count": count, "mode": mode}
        if namespace is not None:
            body["namespace"] = namespace
        if event_type is not None:
            body["eventType"] = event_type
        if reason is not None:
            body["reason"] = reason
        await self._call("POST", "/churn", body)

    async def churn(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/churn"))

    async def stop_churn(self) -> dict[str, Any]:
        return dict(await self._call("DELETE", "/churn"))
