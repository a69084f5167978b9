"""The control plane end to end: a real uvicorn server with the cluster component, against the session's
kubesim, with the real helm binary and a real SQLite file, driven only through GraphQL over HTTP and
websockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from storeplane.cluster import kube_cluster
from storeplane.observing.observer import Observer
from storeplane.settings import Settings
from tests.app.e2e_helpers import (
    CHANGES_SUBSCRIPTION,
    EVENTS_SUBSCRIPTION,
    Api,
    reasons,
    status_runs,
    subscription,
    unique_name,
)
from tests.app.server_helpers import ALICE_TOKEN, API_TOKENS, RunningServer, run_server
from tests.helpers import REPO, eventually

pytestmark = pytest.mark.timeout(240)

# Every engine step of charts/engines.yaml: namespace, release, database, wordpress, setup, ingress.
STEPS = 6
# Seconds a store may take to become Ready or Deleted here (about two with kubesim's test profile).
CONVERGE = 60.0


@pytest.fixture
def cluster_env(kube_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """helm, run by the server in this process, needs the session's KUBECONFIG and HELM_*_HOME."""
    for key in ("KUBECONFIG", "PATH", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(key, kube_env[key])
    monkeypatch.setenv("STOREPLANE_API_TOKENS", API_TOKENS)


def settings_for(tmp_path: Path, kubesim: KubesimProcess, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "kubeconfig": kubesim.kubeconfig,
        "charts_dir": REPO / "charts",
        "values_dir": REPO / "values",
        "environment": "local",
        "provisioning_timeout_seconds": CONVERGE,
        # Reconnect quickly after the outage tests' faults.
        "watch_backoff_initial_seconds": 0.05,
        "watch_backoff_max_seconds": 0.5,
        **overrides,
    }
    settings = Settings(**values)
    assert settings.api_tokens, "STOREPLANE_API_TOKENS was not read"
    assert settings.database_url.startswith("sqlite://")
    return settings


@asynccontextmanager
async def control_plane(settings: Settings) -> AsyncIterator[tuple[RunningServer, Api]]:
    async with (
        run_server(settings, cluster=kube_cluster()) as server,
        aiohttp.ClientSession() as http,
    ):
        api = Api(http, server.url, ALICE_TOKEN)
        await api.wait_until_ready(timeout=30)
        yield server, api


def observer_of(server: RunningServer) -> Observer:
    observer = server.system.cluster.tracker
    assert isinstance(observer, Observer)
    return observer


async def changes_subscribed(server: RunningServer, count: int) -> None:
    """storeChanged has no acknowledgement: wait until the server's bus holds the subscription."""

    async def probe() -> bool:
        return server.system.core.changes.subscriber_count >= count

    await eventually(probe, timeout=10, what="the storeChanged subscription to register")


async def _true(value: bool) -> bool:
    return value


def has_status(status: str) -> Any:
    return lambda items: any(item["status"] == status for item in items)


def has_reason(reason: str) -> Any:
    return lambda items: reason in reasons(items)


async def delete_and_wait(api: Api, store_id: str) -> None:
    await api.delete_store(store_id)
    await api.wait_for_status(store_id, "DELETED", timeout=CONVERGE)


async def test_a_store_is_created_followed_over_websockets_to_ready_and_deleted_until_its_namespace_is_gone(
    tmp_path: Path, kubesim: KubesimProcess, cluster_env: None, api: ApiClient
) -> None:
    settings = settings_for(tmp_path, kubesim)
    assert settings.data_dir == tmp_path / "data"
    name = unique_name("e2e")
    async with (
        control_plane(settings) as (server, client),
        subscription(
            server.ws_url, token=ALICE_TOKEN, query=CHANGES_SUBSCRIPTION, variables={}, field="storeChanged"
        ) as changes,
    ):
        await changes_subscribed(server, 1)
        created = await client.create_store(name)
        store_id = created["id"]
        assert (created["status"], created["namespace"], created["owner"]) == (
            "PENDING",
            f"store-{name}",
            "alice",
        )
        assert (tmp_path / "data" / "storeplane.sqlite3").is_file()

        async with subscription(
            server.ws_url,
            token=ALICE_TOKEN,
            query=EVENTS_SUBSCRIPTION,
            variables={"storeId": store_id},
            field="storeEvents",
        ) as events:
            await events.wait_for(has_reason("Ready"), timeout=CONVERGE, what="the Ready event")
            received = list(events.items)
            ids = [int(event["id"]) for event in received]
            assert ids == sorted(set(ids)), "events out of order or repeated"
            assert {event["storeId"] for event in received} == {store_id}
            # The control plane's own steps, in order; Kubernetes' events interleave with them.
            ours = [event["reason"] for event in received if event["source"] in ("API", "HELM")]
            assert ours == ["Created", "Provisioning", "NamespaceCreated", "HelmInstalled", "Ready"], ours
            order = reasons(received)
            # helm returns once the objects exist, and the kubelet may start on them before it does.
            namespaced, ready = order.index("NamespaceCreated"), order.index("Ready")
            kubernetes = [e for e in received[namespaced:ready] if e["source"] == "KUBERNETES"]
            assert {"Pulled", "Started", "JobCompleted", "IngressReady"} <= set(reasons(kubernetes)), order
            assert order.index("JobCompleted") < order.index("IngressReady") < ready
            assert received[ready]["message"] == f"Store {name} is ready at http://{name}.localtest.me/"

            store = await client.store(store_id)
            assert store["status"] == "READY"
            assert store["storefrontUrl"] == f"http://{name}.localtest.me/"
            assert store["adminUrl"] == f"http://{name}.localtest.me/wp-admin/"
            assert store["readyAt"] is not None
            assert store["failureReason"] is None
            assert store["progress"] == {"done": STEPS, "total": STEPS}

            pushed = await changes.wait_for(has_status("READY"), timeout=10, what="storeChanged READY")
            assert status_runs(pushed) == ["PENDING", "PROVISIONING", "READY"]
            assert pushed[0]["progress"] == {"done": 0, "total": STEPS}
            ready_push = next(item for item in pushed if item["status"] == "READY")
            assert (ready_push["storefrontUrl"], ready_push["adminUrl"]) == (
                store["storefrontUrl"],
                store["adminUrl"],
            )
            assert ready_push["progress"] == {"done": STEPS, "total": STEPS}
            # Progress is pushed while provisioning, step by step, never going back.
            done = [item["progress"]["done"] for item in pushed]
            assert done == sorted(done), done
            assert len(set(done)) > 2, done

            deleting = await client.delete_store(store_id)
            assert deleting["status"] == "DELETING"
            await events.wait_for(has_reason("Deleted"), timeout=CONVERGE, what="the Deleted event")
            order = reasons(events.items)
            tail = order[order.index("DeleteRequested") :]
            steps = [
                r
                for r in tail
                if r in ("HelmUninstalled", "NamespaceDeleting", "NamespaceDeleted", "Deleted")
            ]
            assert steps == ["HelmUninstalled", "NamespaceDeleting", "NamespaceDeleted", "Deleted"], tail
            assert tail[-1] == "Deleted", tail

        with pytest.raises(ApiException) as gone:
            await CoreV1Api(api).read_namespace(f"store-{name}")
        assert gone.value.status == 404
        store = await client.store(store_id)
        assert store["status"] == "DELETED"
        assert store["deletedAt"] is not None
        pushed = await changes.wait_for(has_status("DELETED"), timeout=10, what="storeChanged DELETED")
        assert status_runs(pushed) == ["PENDING", "PROVISIONING", "READY", "DELETING", "DELETED"]
        # What the subscription delivered is exactly what was recorded: nothing missed, nothing repeated.
        assert [e["id"] for e in events.items] == [e["id"] for e in await client.events(store_id)]


async def test_a_pod_that_never_becomes_ready_fails_the_store_naming_it_and_retry_makes_it_ready(
    tmp_path: Path, kubesim: KubesimProcess, cluster_env: None, control: ControlClient
) -> None:
    timeout = 8.0
    settings = settings_for(tmp_path, kubesim, provisioning_timeout_seconds=timeout)
    name = unique_name("e2e")
    pod = f"{name}-mariadb-0"
    await control.add_fault("never-ready", namespace=f"store-{name}", name=f"{name}-mariadb*")
    async with (
        control_plane(settings) as (server, client),
        subscription(
            server.ws_url, token=ALICE_TOKEN, query=CHANGES_SUBSCRIPTION, variables={}, field="storeChanged"
        ) as changes,
    ):
        await changes_subscribed(server, 1)
        store_id = (await client.create_store(name))["id"]
        pushed = await changes.wait_for(
            has_status("FAILED"), timeout=timeout + 30, what="storeChanged FAILED"
        )
        failed = next(item for item in pushed if item["status"] == "FAILED")
        reason = failed["failureReason"]
        assert reason is not None
        assert reason.startswith(f"Not ready after {timeout:g}s: "), reason
        assert f"Pod {pod} not ready" in reason, reason
        store = await client.store(store_id)
        assert (store["status"], store["failureReason"], store["storefrontUrl"]) == ("FAILED", reason, None)
        recorded = await client.events(store_id)
        failures = [event for event in recorded if event["reason"] == "Failed"]
        assert [(e["type"], e["message"]) for e in failures] == [("WARNING", reason)]

        await control.clear_faults()
        retried = await client.retry_store(store_id)
        assert (retried["status"], retried["failureReason"]) == ("PENDING", None)
        pushed = await changes.wait_for(
            lambda items: status_runs(items)[-1:] == ["READY"], timeout=CONVERGE, what="storeChanged READY"
        )
        assert status_runs(pushed) == [
            "PENDING",
            "PROVISIONING",
            "FAILED",
            "PENDING",
            "PROVISIONING",
            "READY",
        ]
        store = await client.store(store_id)
        assert (store["status"], store["failureReason"]) == ("READY", None)
        assert store["progress"] == {"done": STEPS, "total": STEPS}
        after_retry = reasons(await client.events(store_id))
        after_retry = after_retry[after_retry.index("RetryRequested") :]
        assert after_retry.count("Provisioning") == 1, after_retry
        assert after_retry.count("Ready") == 1, after_retry
        await delete_and_wait(client, store_id)


async def test_a_kubesim_outage_and_a_forced_410_during_provisioning_lose_no_status_change(
    tmp_path: Path, kubesim: KubesimProcess, cluster_env: None, control: ControlClient
) -> None:
    settings = settings_for(tmp_path, kubesim)
    first, second = unique_name("e2e"), unique_name("e2e")
    async with (
        control_plane(settings) as (server, client),
        subscription(
            server.ws_url, token=ALICE_TOKEN, query=CHANGES_SUBSCRIPTION, variables={}, field="storeChanged"
        ) as changes,
        subscription(
            server.ws_url, token=ALICE_TOKEN, query=EVENTS_SUBSCRIPTION, variables={}, field="storeEvents"
        ) as events,
    ):
        await changes_subscribed(server, 1)
        watches = observer_of(server).watches
        recoveries_before = sum(h.expired + h.relists for h in watches.health().values())

        first_id = (await client.create_store(first))["id"]
        await control.outage(2)
        second_id = (await client.create_store(second))["id"]
        await changes.wait_for(
            lambda items: any(i["id"] == first_id and i["status"] == "PROVISIONING" for i in items),
            timeout=10,
            what="the first store to be provisioning",
        )
        # The outage drops every watch (seen here once one is down); once all are back, force each to resume
        # into a 410 Expired.
        await eventually(
            lambda: _true(not all(h.connected for h in watches.health().values())),
            timeout=10,
            interval=0.01,
            what="the outage to drop the watches",
        )
        await eventually(
            lambda: _true(all(h.connected for h in watches.health().values())),
            timeout=10,
            what="the watches to reconnect after the outage",
        )
        await control.expire_next_watch()
        assert await control.cut_watches() >= 1
        assert (await client.store(first_id))["status"] == "PROVISIONING"
        for store_id in (first_id, second_id):
            store = await client.wait_for_status(store_id, "READY", timeout=CONVERGE)
            assert store["progress"] == {"done": STEPS, "total": STEPS}
        await changes.wait_for(
            lambda items: sum(i["status"] == "READY" for i in items) >= 2,
            timeout=10,
            what="both READY pushes",
        )
        await events.wait_for(
            lambda items: reasons(items).count("Ready") == 2, timeout=10, what="both Ready events"
        )
        assert sum(h.expired + h.relists for h in watches.health().values()) > recoveries_before
        assert watches.healthy

        for store_id in (first_id, second_id):
            pushed = [item for item in changes.items if item["id"] == store_id]
            assert status_runs(pushed) == ["PENDING", "PROVISIONING", "READY"], pushed
            streamed = [event for event in events.items if event["storeId"] == store_id]
            order = reasons(streamed)
            for step in ("Created", "Provisioning", "HelmInstalled", "JobCompleted", "IngressReady", "Ready"):
                assert order.count(step) == 1, (step, order)
            assert order.index("Provisioning") < order.index("JobCompleted") < order.index("Ready")
            assert order.index("HelmInstalled") < order.index("Ready")
            # The live stream missed nothing and repeated nothing of what was recorded.
            recorded = await client.events(store_id)
            assert [e["id"] for e in streamed] == [e["id"] for e in recorded][: len(streamed)]
        for store_id in (first_id, second_id):
            await delete_and_wait(client, store_id)
