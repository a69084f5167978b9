"""The `/_kubesim/` control endpoint: fault injection, counters and churn, outside the Kubernetes paths."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kubesim.churn import DEFAULT_REASON, Churn, ChurnEvent
from kubesim.faults import OUTAGE_KINDS, Faults, Rule
from kubesim.metrics import Metrics
from kubesim.object_store import ObjectStore

PREFIX = "/_kubesim"


class Control:
    """Handlers for the control endpoint; every answer is JSON."""

    def __init__(
        self,
        object_store: ObjectStore,
        faults: Faults,
        metrics: Metrics,
        churn: Churn,
        *,
        restart: Callable[[float], None] | None = None,
    ) -> None:
        self.object_store = object_store
        self.faults = faults
        self.metrics = metrics
        self.churn = churn
        self.restart = restart
        """Close the listener for that many seconds, as a restarting API server would (app.py)."""

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/metrics", self.get_metrics),
            web.post(f"{PREFIX}/metrics/reset", self.reset_metrics),
            web.get(f"{PREFIX}/faults", self.get_faults),
            web.post(f"{PREFIX}/faults", self.add_fault),
            web.delete(f"{PREFIX}/faults", self.clear_faults),
            web.post(f"{PREFIX}/latency", self.set_latency),
            web.post(f"{PREFIX}/outage", self.start_outage),
            web.post(f"{PREFIX}/watches/cut", self.cut_watches),
            web.post(f"{PREFIX}/watches/expire-next", self.expire_next),
            web.post(f"{PREFIX}/compact", self.compact),
            web.post(f"{PREFIX}/churn", self.start_churn),
            web.get(f"{PREFIX}/churn", self.get_churn),
            web.delete(f"{PREFIX}/churn", self.stop_churn),
        ]

    async def get_metrics(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": self.metrics.to_json(),
                "openWatches": self.object_store.open_watch_count(),
                "openWatchesByResource": self.object_store.open_watches_by_resource(),
                "resourceVersion": self.object_store.resource_version,
                "objects": self.object_store.object_counts(),
            }
        )

    async def reset_metrics(self, request: web.Request) -> web.Response:
        self.metrics.reset()
        return web.json_response({"reset": True})

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.to_json())

    async def add_fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            rule = Rule(
                action=str(body["action"]),
                namespace=str(body.get("namespace", "*")),
                name=str(body.get("name", "*")),
            )
            self.faults.add(rule)
        except (KeyError, ValueError) as exc:
            raise _bad(f"invalid fault: {exc}") from exc
        return web.json_response(self.faults.to_json(), status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response(self.faults.to_json())

    async def set_latency(self, request: web.Request) -> web.Response:
        body = await _body(request)
        self.faults.latency = _number(body, "seconds", 0.0)
        return web.json_response(self.faults.to_json())

    async def start_outage(self, request: web.Request) -> web.Response:
        body = await _body(request)
        code = int(_number(body, "code", 503))
        if code not in (500, 502, 503, 504):
            raise _bad("code must be 500, 502, 503 or 504")
        kind = body.get("kind")
        if kind is not None and kind not in OUTAGE_KINDS:
            raise _bad(f"kind must be one of {', '.join(OUTAGE_KINDS)}")
        seconds = _number(body, "seconds", 5.0)
        self.faults.start_outage(seconds, code, kind)
        # A real API server that goes away drops its watches too: clients must reconnect into the outage.
        self.object_store.cut_watches()
        answer = web.json_response(self.faults.to_json())
        if kind == "restart" and self.restart is not None:
            self.restart(seconds)  # after this answer is sent: the listener goes away with the process
        return answer

    async def cut_watches(self, request: web.Request) -> web.Response:
        return web.json_response({"cut": self.object_store.cut_watches()})

    async def expire_next(self, request: web.Request) -> web.Response:
        self.object_store.expire_next_watch()
        return web.json_response({"expireNextWatch": True})

    async def compact(self, request: web.Request) -> web.Response:
        return web.json_response({"compactedResourceVersion": self.object_store.compact()})

    async def start_churn(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            self.churn.start(
                rate=_number(body, "rate", 20.0),
                count=int(_number(body, "count", 100)),
                mode=str(body.get("mode", "event")),
                namespace=body.get("namespace"),
                event=ChurnEvent(
                    type=str(body.get("eventType", "Normal")), reason=str(body.get("reason", DEFAULT_REASON))
                ),
            )
        except ValueError as exc:
            raise _bad(str(exc)) from exc
        return web.json_response({"started": True}, status=201)

    async def get_churn(self, request: web.Request) -> web.Response:
        return web.json_response(self.churn.to_json())

    async def stop_churn(self, request: web.Request) -> web.Response:
        await self.churn.stop()
        return web.json_response(self.churn.to_json())


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _bad(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _bad(f"{key} must be a non-negative number")
    return float(value)


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")
