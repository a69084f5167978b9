"""Outages in a real API server's words: each kind answers as kube-apiserver (or its absence) does."""

from __future__ import annotations

import aiohttp
import pytest

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from tests.helpers import eventually


@pytest.mark.parametrize(
    ("kind", "status", "reason", "message", "retry_after"),
    [
        (
            "unavailable",
            503,
            "ServiceUnavailable",
            "The apiserver is shutting down, please try again later.",
            "1",
        ),
        ("etcd", 500, "InternalError", "etcdserver: request timed out", None),
        ("throttled", 429, "TooManyRequests", "Too many requests, please try again later.", "1"),
    ],
)
async def test_an_outage_answers_in_the_words_of_its_kind(
    kubesim: KubesimProcess,
    control: ControlClient,
    kind: str,
    status: int,
    reason: str,
    message: str,
    retry_after: str | None,
) -> None:
    await control.outage(0.5, kind=kind)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{kubesim.url}/api/v1/namespaces") as response:
            assert response.status == status
            body = await response.json()
            assert response.headers.get("Retry-After") == retry_after
        assert (body["kind"], body["status"], body["reason"], body["message"], body["code"]) == (
            "Status",
            "Failure",
            reason,
            message,
            status,
        )
        await eventually(lambda: _answers(http, kubesim.url), timeout=5, what="the outage to end")


async def test_a_restart_refuses_connections_then_serves_again_on_the_same_port(
    kubesim: KubesimProcess, control: ControlClient
) -> None:
    await control.outage(1.0, kind="restart")
    async with aiohttp.ClientSession() as http:

        async def refused() -> bool | None:
            try:
                async with http.get(f"{kubesim.url}/api/v1/namespaces") as response:
                    await response.read()
            except aiohttp.ClientConnectionError:
                return True
            return None

        await eventually(refused, timeout=5, interval=0.02, what="connections refused")
        await eventually(lambda: _answers(http, kubesim.url), timeout=10, what="the restart to end")


async def test_an_unknown_outage_kind_is_refused(control: ControlClient) -> None:
    with pytest.raises(Exception, match="kind must be one of"):
        await control.outage(0.5, kind="meteor")


async def _answers(http: aiohttp.ClientSession, url: str) -> bool | None:
    try:
        async with http.get(f"{url}/api/v1/namespaces") as response:
            return response.status == 200 or None
    except aiohttp.ClientConnectionError:
        return None
