"""Watch streams as kubernetes_asyncio and raw HTTP clients see them: resume, 410, bookmarks, watch-list."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import (
    ApiClient,
    ApiException,
    CoreV1Api,
    V1ConfigMap,
    V1Namespace,
    V1ObjectMeta,
)

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from tests.helpers import eventually


async def _namespace(core: CoreV1Api) -> str:
    name = f"w-{uuid.uuid4().hex[:10]}"
    await core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=name)))
    return name


async def _namespace_with_pod(core: CoreV1Api, pod_name: str) -> str:
    ns = await _namespace(core)
    pod: Any = {
        "metadata": {"name": pod_name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.37.0"}]},
    }
    await core.create_namespaced_pod(ns, pod)
    return ns


async def _churn_writes(control: ControlClient) -> list[dict[str, Any]]:
    """The writes of the churn once it has finished."""

    async def finished() -> dict[str, Any] | None:
        state = await control.churn()
        return None if state["running"] else state

    writes: list[dict[str, Any]] = (await eventually(finished, what="churn to finish"))["writes"]
    return writes


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> V1ConfigMap:
    return V1ConfigMap(metadata=V1ObjectMeta(name=name, labels=labels), data=data)


async def _stream(http: aiohttp.ClientSession, url: str) -> AsyncIterator[dict[str, Any]]:
    """Raw watch events, one JSON object a line, as the API server sends them."""
    async with http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers.get("Transfer-Encoding") == "chunked"
        async for line in response.content:
            if line.strip():
                yield json.loads(line)


async def _collect(
    events: AsyncIterator[dict[str, Any]], count: int, *, timeout: float = 10.0
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    async def take() -> None:
        async for event in events:
            out.append(event)
            if len(out) == count:
                return

    await asyncio.wait_for(take(), timeout)
    return out


async def test_watch_from_a_list_sees_every_later_change_in_order(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    listed = await core.list_namespaced_config_map(ns, label_selector="watched")
    rv = listed.metadata.resource_version
    await core.create_namespaced_config_map(ns, _cm("one", {"watched": "y"}, v="1"))
    await core.patch_namespaced_config_map("one", ns, {"data": {"v": "2"}})
    await core.delete_namespaced_config_map("one", ns)

    seen: list[tuple[str, str | None]] = []
    stream = watch.Watch()
    async with stream.stream(
        core.list_namespaced_config_map, ns, label_selector="watched", resource_version=rv, timeout_seconds=5
    ) as events:
        async for event in events:
            seen.append((event["type"], (event["object"].data or {}).get("v")))
            if len(seen) == 3:
                break
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


async def test_watch_without_a_version_starts_with_the_current_objects(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    await core.create_namespaced_config_map(ns, _cm("existing", {"w": "1"}))
    stream = watch.Watch()
    async with stream.stream(
        core.list_namespaced_config_map, ns, label_selector="w", timeout_seconds=5
    ) as events:
        first = await events.__anext__()
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "existing")


async def test_resuming_from_a_resource_version_repeats_nothing_and_misses_nothing(
    kubesim: KubesimProcess, api: ApiClient
) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    start = (await core.list_namespaced_config_map(ns)).metadata.resource_version
    for index in range(6):
        await core.create_namespaced_config_map(ns, _cm(f"c{index}", {"seq": str(index)}))
    async with aiohttp.ClientSession() as http:
        base = f"{kubesim.url}/api/v1/namespaces/{ns}/configmaps?watch=true&labelSelector=seq"
        first = await _collect(_stream(http, f"{base}&resourceVersion={start}"), 3)
        cursor = first[-1]["object"]["metadata"]["resourceVersion"]
        rest = await _collect(_stream(http, f"{base}&resourceVersion={cursor}"), 3)
    names = [e["object"]["metadata"]["name"] for e in first + rest]
    assert names == [f"c{i}" for i in range(6)]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in first + rest]
    assert versions == sorted(versions)
    assert len(set(versions)) == 6


async def test_objects_leaving_a_selector_are_reported_deleted_and_entering_added(
    kubesim: KubesimProcess, api: ApiClient
) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    rv = (await core.list_namespaced_config_map(ns)).metadata.resource_version
    await core.create_namespaced_config_map(ns, _cm("mover", {"team": "a"}))
    await core.patch_namespaced_config_map("mover", ns, {"metadata": {"labels": {"team": "b"}}})
    await core.patch_namespaced_config_map("mover", ns, {"metadata": {"labels": {"team": "a"}}})
    async with aiohttp.ClientSession() as http:
        query = f"watch=1&labelSelector=team%3Da&resourceVersion={rv}"
        url = f"{kubesim.url}/api/v1/namespaces/{ns}/configmaps?{query}"
        events = await _collect(_stream(http, url), 3)
    assert [e["type"] for e in events] == ["ADDED", "DELETED", "ADDED"]
    assert events[1]["object"]["metadata"]["labels"] == {"team": "b"}


async def test_watch_resumed_after_compaction_gets_410_expired_then_relist_recovers(
    api: ApiClient, control: ControlClient
) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    old = (await core.list_namespaced_config_map(ns)).metadata.resource_version
    await core.create_namespaced_config_map(ns, _cm("before", {"x": "1"}))
    await control.compact()

    async def drain() -> None:
        async with watch.Watch().stream(
            core.list_namespaced_config_map, ns, resource_version=old, timeout_seconds=5
        ) as events:
            async for _ in events:
                pass

    with pytest.raises(ApiException) as caught:
        await drain()
    assert caught.value.status == 410

    # What a well-behaved watcher does next: list again and watch from the fresh version.
    relisted = await core.list_namespaced_config_map(ns, label_selector="x")
    assert [i.metadata.name for i in relisted.items] == ["before"]
    await core.create_namespaced_config_map(ns, _cm("after", {"x": "1"}))
    async with watch.Watch().stream(
        core.list_namespaced_config_map,
        ns,
        label_selector="x",
        resource_version=relisted.metadata.resource_version,
        timeout_seconds=5,
    ) as events:
        event = await events.__anext__()
    assert (event["type"], event["object"].metadata.name) == ("ADDED", "after")


async def test_the_410_error_event_carries_an_expired_status(
    kubesim: KubesimProcess, control: ControlClient
) -> None:
    await control.expire_next_watch()
    async with aiohttp.ClientSession() as http:
        url = f"{kubesim.url}/api/v1/namespaces?watch=true&resourceVersion=1"
        events = await _collect(_stream(http, url), 1)
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert "too old resource version" in status["message"]


async def test_bookmarks_carry_the_current_resource_version(kubesim: KubesimProcess, api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    rv = (await core.list_namespaced_config_map(ns)).metadata.resource_version
    # A change elsewhere moves the global resourceVersion; the bookmark tells the quiet watch about it.
    other = await _namespace(core)
    newest = (await core.create_namespaced_config_map(other, _cm("elsewhere"))).metadata.resource_version
    async with aiohttp.ClientSession() as http:
        url = (
            f"{kubesim.url}/api/v1/namespaces/{ns}/configmaps?watch=true&allowWatchBookmarks=true"
            f"&labelSelector=none&resourceVersion={rv}"
        )
        events = await _collect(_stream(http, url), 1, timeout=5)
    assert events[0]["type"] == "BOOKMARK"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(newest)
    assert events[0]["object"]["kind"] == "ConfigMap"


async def test_watch_list_sends_existing_objects_then_the_initial_events_end_bookmark(
    kubesim: KubesimProcess, api: ApiClient
) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    await core.create_namespaced_config_map(ns, _cm("a", {"wl": "1"}))
    await core.create_namespaced_config_map(ns, _cm("b", {"wl": "1"}))
    async with aiohttp.ClientSession() as http:
        url = (
            f"{kubesim.url}/api/v1/namespaces/{ns}/configmaps?watch=true&sendInitialEvents=true"
            "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=wl"
        )
        events = await _collect(_stream(http, url), 3)
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events[:2]] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]
    assert events[2]["type"] == "BOOKMARK"
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


@pytest.mark.parametrize("from_version", [False, True], ids=["newest", "given"])
async def test_watch_without_initial_events_sends_only_later_changes(
    kubesim: KubesimProcess, api: ApiClient, from_version: bool
) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    existing = await core.create_namespaced_config_map(ns, _cm("existing"))
    rv = f"&resourceVersion={existing.metadata.resource_version}" if from_version else ""
    async with aiohttp.ClientSession() as http:
        url = (
            f"{kubesim.url}/api/v1/namespaces/{ns}/configmaps?watch=true&sendInitialEvents=false"
            f"&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true{rv}"
        )
        seen: list[dict[str, Any]] = []

        async def until_added() -> None:
            async for event in _stream(http, url):
                seen.append(event)
                if event["type"] == "ADDED":
                    return

        watching = asyncio.ensure_future(asyncio.wait_for(until_added(), 10))
        await asyncio.sleep(0.3)  # the watch is registered before the change
        await core.create_namespaced_config_map(ns, _cm("later"))
        await watching
    # Neither the existing object nor an initial-events-end bookmark: sendInitialEvents=false asked for none
    # (periodic bookmarks may come, unannotated).
    assert (seen[-1]["type"], seen[-1]["object"]["metadata"]["name"]) == ("ADDED", "later")
    assert all(e["type"] == "BOOKMARK" and "annotations" not in e["object"]["metadata"] for e in seen[:-1])


async def test_timeout_seconds_ends_the_stream(kubesim: KubesimProcess) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with aiohttp.ClientSession() as http:
        url = f"{kubesim.url}/api/v1/namespaces?watch=True&timeoutSeconds=1&labelSelector=nothing-matches"
        events = [e async for e in _stream(http, url)]
    assert events == []
    assert 0.9 <= loop.time() - started < 5


async def test_closed_watch_connections_are_noticed(kubesim: KubesimProcess, control: ControlClient) -> None:
    before = (await control.metrics())["openWatches"]
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"{kubesim.url}/api/v1/pods?watch=true&labelSelector=nothing-matches")

        async def opened() -> bool:
            return bool((await control.metrics())["openWatches"] == before + 1)

        await eventually(opened, what="watch registered")
        response.close()

    async def closed() -> bool:
        return bool((await control.metrics())["openWatches"] == before)

    await eventually(closed, what="watch unregistered after the client went away")


async def test_cut_watches_end_every_open_stream(kubesim: KubesimProcess, control: ControlClient) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{kubesim.url}/api/v1/configmaps?watch=true&labelSelector=nothing-matches"

        async def drain() -> list[dict[str, Any]]:
            return [e async for e in _stream(http, url)]

        task = asyncio.create_task(drain())

        async def opened() -> bool:
            return bool((await control.metrics())["openWatchesByResource"].get("configmaps./v1"))

        await eventually(opened, what="watch registered")
        assert await control.cut_watches() >= 1
        assert await asyncio.wait_for(task, 5) == []


async def test_outage_answers_503_status_then_recovers(
    kubesim: KubesimProcess, control: ControlClient
) -> None:
    await control.outage(0.5)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{kubesim.url}/api/v1/namespaces") as response:
            assert response.status == 503
            body = await response.json()
        assert (body["kind"], body["reason"]) == ("Status", "ServiceUnavailable")

        async def recovered() -> bool:
            async with http.get(f"{kubesim.url}/api/v1/namespaces") as response:
                return response.status == 200

        await eventually(recovered, timeout=5, what="the outage to end")


async def test_latency_slows_every_request(kubesim: KubesimProcess, control: ControlClient) -> None:
    await control.set_latency(0.3)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        started = loop.time()
        async with http.get(f"{kubesim.url}/api/v1/namespaces/default") as response:
            assert response.status == 200
        assert loop.time() - started >= 0.3


async def test_request_counters_are_kept_by_verb_resource_and_user_agent(
    kubesim: KubesimProcess, control: ControlClient
) -> None:
    await control.reset_metrics()
    async with aiohttp.ClientSession(headers={"User-Agent": "counter-test/1.0 (linux)"}) as http:
        for _ in range(3):
            async with http.get(f"{kubesim.url}/api/v1/namespaces/default/configmaps") as response:
                assert response.status == 200
        async with http.get(f"{kubesim.url}/api/v1/namespaces/default") as response:
            assert response.status == 200
    requests = (await control.metrics())["requests"]
    mine = {(r["verb"], r["resource"]): r["count"] for r in requests if r["userAgent"] == "counter-test/1.0"}
    assert mine == {("list", "configmaps"): 3, ("get", "namespaces"): 1}


async def test_churn_writes_events_at_the_requested_rate_and_records_them(
    api: ApiClient, control: ControlClient
) -> None:
    core = CoreV1Api(api)
    ns = await _namespace_with_pod(core, "target")
    await control.start_churn(rate=50, count=10, namespace=ns)
    writes = await _churn_writes(control)
    assert [w["seq"] for w in writes] == list(range(10))
    span = writes[-1]["at"] - writes[0]["at"]
    assert 0.1 < span < 2.0  # 9 intervals of 20 ms, loosely: the point is that writes are spread out
    events = await core.list_namespaced_event(ns, field_selector="reason=KubesimChurn")
    assert sorted(e.metadata.resource_version for e in events.items) == sorted(
        w["resourceVersion"] for w in writes
    )


async def test_churn_writes_events_of_the_requested_type_and_reason(
    api: ApiClient, control: ControlClient
) -> None:
    core = CoreV1Api(api)
    ns = await _namespace_with_pod(core, "target")
    await control.start_churn(rate=50, count=4, namespace=ns, event_type="Warning", reason="BackOff")
    writes = await _churn_writes(control)
    events = await core.list_namespaced_event(ns, field_selector="type=Warning,reason=BackOff")
    assert sorted((e.metadata.resource_version, e.message) for e in events.items) == sorted(
        (w["resourceVersion"], f"churn {w['seq']}") for w in writes
    )
    assert {(e.involved_object.kind, e.involved_object.name) for e in events.items} == {("Pod", "target")}


async def test_churn_refuses_an_unknown_event_type(control: ControlClient) -> None:
    with pytest.raises(RuntimeError, match="eventType"):
        await control.start_churn(rate=10, count=1, event_type="Error")
