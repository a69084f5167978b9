"""kubernetes_asyncio against kubesim over HTTP: CRUD, selectors, paging, patches and error Status objects."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import (
    ApiClient,
    ApiException,
    AppsV1Api,
    CoreV1Api,
    V1ConfigMap,
    V1Namespace,
    V1ObjectMeta,
)

from kubesim.process import KubesimProcess
from kubesim.protobuf import encode_protobuf_object
from tests.helpers import eventually


async def _namespace(core: CoreV1Api, **labels: str) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    await core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=name, labels=labels or None)))
    return name


def _status(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or b"{}")
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def _config_map(name: str, labels: dict[str, str] | None = None, **data: str) -> V1ConfigMap:
    return V1ConfigMap(metadata=V1ObjectMeta(name=name, labels=labels), data=data)


async def test_create_get_replace_delete_round_trip_stamps_server_fields(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    created = await core.create_namespaced_config_map(ns, _config_map("settings", color="blue"))
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    first_rv = int(created.metadata.resource_version)

    fetched = await core.read_namespaced_config_map("settings", ns)
    assert fetched.data == {"color": "blue"}
    fetched.data["color"] = "green"
    replaced = await core.replace_namespaced_config_map("settings", ns, fetched)
    assert replaced.data == {"color": "green"}
    assert int(replaced.metadata.resource_version) > first_rv
    assert replaced.metadata.uid == created.metadata.uid

    await core.delete_namespaced_config_map("settings", ns)
    with pytest.raises(ApiException) as caught:
        await core.read_namespaced_config_map("settings", ns)
    assert caught.value.status == 404


async def test_a_write_that_changes_nothing_keeps_the_resource_version(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    created = await core.create_namespaced_config_map(ns, _config_map("same", a="1"))
    again = await core.replace_namespaced_config_map("same", ns, created)
    assert again.metadata.resource_version == created.metadata.resource_version


async def test_generation_rises_only_when_the_spec_changes(api: ApiClient) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    ns = await _namespace(core)
    body = _deployment("web")
    created = await apps.create_namespaced_deployment(ns, body)
    assert created.metadata.generation == 1
    labelled = await apps.patch_namespaced_deployment("web", ns, {"metadata": {"labels": {"tier": "front"}}})
    assert labelled.metadata.generation == 1
    scaled = await apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 2}})
    assert scaled.metadata.generation == 2


def _deployment(name: str, *, image: str = "nginx:1.27.3", labels: dict[str, str] | None = None) -> Any:
    """A Deployment body; typed Any because the client takes plain dicts as well as models."""
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{"name": "main", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    }


async def test_server_defaults_are_filled_as_a_real_api_server_does(api: ApiClient) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    ns = await _namespace(core)
    deployment = await apps.create_namespaced_deployment(ns, _deployment("web"))
    assert deployment.spec.progress_deadline_seconds == 600
    assert deployment.spec.strategy.type == "RollingUpdate"
    assert deployment.spec.strategy.rolling_update.max_surge == "25%"
    container = deployment.spec.template.spec.containers[0]
    assert container.image_pull_policy == "IfNotPresent"
    assert container.ports[0].protocol == "TCP"
    service: Any = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    service = await core.create_namespaced_service(ns, service)
    assert service.spec.cluster_ip.startswith("10.96.")
    assert service.spec.type == "ClusterIP"
    assert service.spec.ports[0].target_port == 80
    namespace = await core.read_namespace(ns)
    assert namespace.status.phase == "Active"
    assert namespace.metadata.labels["kubernetes.io/metadata.name"] == ns


async def test_label_selectors_support_every_operator(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    await core.create_namespaced_config_map(ns, _config_map("a", {"tier": "web", "env": "prod"}))
    await core.create_namespaced_config_map(ns, _config_map("b", {"tier": "db", "env": "dev"}))
    await core.create_namespaced_config_map(ns, _config_map("c", {"tier": "cache"}))

    async def names(selector: str) -> list[str]:
        listed = await core.list_namespaced_config_map(ns, label_selector=selector)
        return sorted(item.metadata.name for item in listed.items if item.metadata.name != "kube-root-ca.crt")

    assert await names("tier=web") == ["a"]
    assert await names("tier==db") == ["b"]
    assert await names("tier!=web") == ["b", "c"]
    assert await names("tier in (web, cache)") == ["a", "c"]
    assert await names("tier notin (web,cache)") == ["b"]
    assert await names("env") == ["a", "b"]
    assert await names("!env") == ["c"]
    assert await names("tier,env=dev") == ["b"]


async def test_field_selectors_filter_by_name_and_namespace_across_namespaces(api: ApiClient) -> None:
    core = CoreV1Api(api)
    first, second = await _namespace(core), await _namespace(core)
    await core.create_namespaced_config_map(first, _config_map("shared"))
    await core.create_namespaced_config_map(second, _config_map("shared"))
    everywhere = await core.list_config_map_for_all_namespaces(field_selector="metadata.name=shared")
    namespaces = {item.metadata.namespace for item in everywhere.items}
    assert {first, second} <= namespaces
    one = await core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.name=shared,metadata.namespace={second}"
    )
    assert [(i.metadata.namespace, i.metadata.name) for i in one.items] == [(second, "shared")]


async def test_unsupported_field_selector_is_a_bad_request(api: ApiClient) -> None:
    core = CoreV1Api(api)
    with pytest.raises(ApiException) as caught:
        await core.list_config_map_for_all_namespaces(field_selector="data.color=blue")
    status = _status(caught.value)
    assert status["reason"] == "BadRequest"
    assert "field label not supported: data.color" in status["message"]


async def test_events_can_be_selected_by_involved_object(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    for target in ("web", "db"):
        event: Any = {
            "metadata": {"name": f"{target}.1"},
            "involvedObject": {"kind": "Pod", "name": target, "namespace": ns},
            "reason": "Testing",
            "message": f"about {target}",
            "type": "Normal",
        }
        await core.create_namespaced_event(ns, event)
    listed = await core.list_namespaced_event(
        ns, field_selector="involvedObject.kind=Pod,involvedObject.name=db"
    )
    assert [e.message for e in listed.items] == ["about db"]


async def test_limit_and_continue_page_through_a_list(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    for index in range(7):
        await core.create_namespaced_config_map(ns, _config_map(f"page-{index}", {"paged": "yes"}))
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = await core.list_namespaced_config_map(
            ns, label_selector="paged", limit=3, _continue=token or ""
        )
        pages += 1
        seen += [item.metadata.name for item in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 7 - len(seen)
    assert pages == 3
    assert seen == [f"page-{i}" for i in range(7)]


async def test_every_patch_type_changes_the_object(api: ApiClient) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    ns = await _namespace(core)
    await apps.create_namespaced_deployment(ns, _deployment("web"))
    # Strategic merge: containers merge by name, so a sidecar is added next to the existing container.
    sidecar = {
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.37.0"}]}}}
    }
    merged = await apps.patch_namespaced_deployment("web", ns, sidecar)
    assert sorted(c.name for c in merged.spec.template.spec.containers) == ["main", "sidecar"]

    # JSON merge patch replaces lists whole.
    base = api.configuration.host
    async with aiohttp.ClientSession() as http:
        url = f"{base}/apis/apps/v1/namespaces/{ns}/deployments/web"
        only = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "busybox:1.37.0"}]}}}}
        async with http.patch(
            url, data=json.dumps(only), headers={"Content-Type": "application/merge-patch+json"}
        ) as response:
            assert response.status == 200
            body = await response.json()
        assert [c["name"] for c in body["spec"]["template"]["spec"]["containers"]] == ["only"]

        ops = [
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "test", "path": "/kind", "value": "Deployment"},
        ]
        async with http.patch(
            url, data=json.dumps(ops), headers={"Content-Type": "application/json-patch+json"}
        ) as response:
            assert response.status == 200
            assert (await response.json())["spec"]["replicas"] == 3

        failing = [{"op": "test", "path": "/spec/replicas", "value": 99}]
        async with http.patch(
            url, data=json.dumps(failing), headers={"Content-Type": "application/json-patch+json"}
        ) as response:
            assert response.status == 422
            assert (await response.json())["reason"] == "Invalid"

        applied = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "applied"},
            "data": {"k": "v"},
        }
        apply_url = f"{base}/api/v1/namespaces/{ns}/configmaps/applied?fieldManager=tests"
        headers = {"Content-Type": "application/apply-patch+yaml"}
        async with http.patch(apply_url, data=json.dumps(applied), headers=headers) as response:
            assert response.status == 201  # server-side apply creates a missing object
        applied["data"] = {"k2": "v2"}
        async with http.patch(apply_url, data=json.dumps(applied), headers=headers) as response:
            assert response.status == 200
            # A field the same manager no longer applies is removed.
            assert (await response.json())["data"] == {"k2": "v2"}
        async with http.patch(apply_url.split("?")[0], data=json.dumps(applied), headers=headers) as response:
            assert response.status == 400
            assert "fieldManager" in (await response.json())["message"]


async def test_status_subresource_is_separate_from_the_main_resource(api: ApiClient) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    ns = await _namespace(core)
    await apps.create_namespaced_deployment(ns, _deployment("web"))
    patched = await apps.patch_namespaced_deployment("web", ns, {"status": {"replicas": 42}})
    assert patched.status.replicas != 42  # the main resource ignores status
    via_status = await apps.patch_namespaced_deployment_status(
        "web", ns, {"status": {"observedGeneration": 7}, "spec": {"replicas": 5}}
    )
    assert via_status.status.observed_generation == 7
    assert via_status.spec.replicas == 1  # ...and the status subresource ignores spec


async def test_protobuf_secret_bodies_are_accepted_and_answered_in_json(
    kubesim: KubesimProcess, api: ApiClient
) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "release", "namespace": ns, "labels": {"owner": "helm"}},
        "type": "helm.sh/release.v1",
        "data": {"release": base64.b64encode(b"payload").decode()},
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{kubesim.url}/api/v1/namespaces/{ns}/secrets",
            data=encode_protobuf_object(secret),
            headers={"Content-Type": "application/vnd.kubernetes.protobuf", "Accept": "application/json"},
        ) as response,
    ):
        assert response.status == 201
        assert response.content_type == "application/json"
    stored = await core.read_namespaced_secret("release", ns)
    assert stored.type == "helm.sh/release.v1"
    assert base64.b64decode(stored.data["release"]) == b"payload"
    assert stored.metadata.labels == {"owner": "helm"}


async def test_not_found_is_a_404_status_naming_the_resource(api: ApiClient) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    with pytest.raises(ApiException) as caught:
        await core.read_namespace("no-such-namespace")
    status = _status(caught.value)
    assert (status["code"], status["reason"]) == (404, "NotFound")
    assert status["message"] == 'namespaces "no-such-namespace" not found'
    ns = await _namespace(core)
    with pytest.raises(ApiException) as caught:
        await apps.read_namespaced_deployment("missing", ns)
    assert _status(caught.value)["message"] == 'deployments.apps "missing" not found'
    assert _status(caught.value)["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}


async def test_creating_in_a_missing_namespace_is_not_found(api: ApiClient) -> None:
    core = CoreV1Api(api)
    with pytest.raises(ApiException) as caught:
        await core.create_namespaced_config_map("nowhere-at-all", _config_map("x"))
    status = _status(caught.value)
    assert status["reason"] == "NotFound"
    assert status["message"] == 'namespaces "nowhere-at-all" not found'


async def test_creating_twice_is_already_exists(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    await core.create_namespaced_config_map(ns, _config_map("twice"))
    with pytest.raises(ApiException) as caught:
        await core.create_namespaced_config_map(ns, _config_map("twice"))
    status = _status(caught.value)
    assert (status["code"], status["reason"]) == (409, "AlreadyExists")
    assert status["message"] == 'configmaps "twice" already exists'


async def test_replacing_with_a_stale_resource_version_is_a_conflict(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    original = await core.create_namespaced_config_map(ns, _config_map("race", v="1"))
    newer = await core.read_namespaced_config_map("race", ns)
    newer.data = {"v": "2"}
    await core.replace_namespaced_config_map("race", ns, newer)
    original.data = {"v": "3"}
    with pytest.raises(ApiException) as caught:
        await core.replace_namespaced_config_map("race", ns, original)
    status = _status(caught.value)
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert "the object has been modified" in status["message"]


async def test_invalid_names_are_rejected_with_causes(api: ApiClient) -> None:
    core = CoreV1Api(api)
    with pytest.raises(ApiException) as caught:
        await core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name="Not_A_Label")))
    status = _status(caught.value)
    assert (status["code"], status["reason"]) == (422, "Invalid")
    cause = status["details"]["causes"][0]
    assert cause["field"] == "metadata.name"
    assert cause["reason"] == "FieldValueInvalid"
    assert "RFC 1123" in cause["message"]
    ns = await _namespace(core)
    with pytest.raises(ApiException) as caught:
        await core.create_namespaced_config_map(ns, _config_map("x" * 254))
    assert "253" in _status(caught.value)["message"]


async def test_malformed_bodies_are_bad_requests(kubesim: KubesimProcess) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{kubesim.url}/api/v1/namespaces",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        ) as response:
            assert response.status == 400
            body = await response.json()
        assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400)
        async with http.post(
            f"{kubesim.url}/api/v1/namespaces",
            data=json.dumps({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "x"}}),
            headers={"Content-Type": "application/json"},
        ) as response:
            assert response.status == 400
        async with http.get(f"{kubesim.url}/api/v1/namespaces?limit=ten") as response:
            assert response.status == 400


async def test_creating_in_a_terminating_namespace_is_forbidden(api: ApiClient, control: Any) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    # A finalizer keeps the object, and so the namespace, around while it is Terminating.
    await core.create_namespaced_config_map(
        ns, V1ConfigMap(metadata=V1ObjectMeta(name="held", finalizers=["example.com/hold"]))
    )
    await core.delete_namespace(ns)

    async def terminating() -> bool:
        return bool((await core.read_namespace(ns)).status.phase == "Terminating")

    await eventually(terminating, what="namespace Terminating")
    with pytest.raises(ApiException) as caught:
        await core.create_namespaced_config_map(ns, _config_map("late"))
    status = _status(caught.value)
    assert (status["code"], status["reason"]) == (403, "Forbidden")
    assert (
        f"unable to create new content in namespace {ns} because it is being terminated" in status["message"]
    )

    await core.patch_namespaced_config_map("held", ns, {"metadata": {"finalizers": None}})

    async def gone() -> bool:
        try:
            await core.read_namespace(ns)
        except ApiException as exc:
            return exc.status == 404
        return False

    await eventually(gone, what="namespace removed once its last finalizer is gone")


async def test_cascading_delete_removes_owned_pods(api: ApiClient) -> None:
    core, apps = CoreV1Api(api), AppsV1Api(api)
    ns = await _namespace(core)
    await apps.create_namespaced_deployment(ns, _deployment("web"))

    async def pods() -> list[Any]:
        return list((await core.list_namespaced_pod(ns)).items)

    await eventually(pods, what="the deployment's pod")
    await apps.delete_namespaced_deployment("web", ns, propagation_policy="Foreground")

    async def all_gone() -> bool:
        replica_sets = await apps.list_namespaced_replica_set(ns)
        return not (await pods()) and not replica_sets.items

    await eventually(all_gone, what="replica sets and pods removed with their deployment")


async def test_discovery_lists_groups_versions_and_resources(kubesim: KubesimProcess) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{kubesim.url}/api/v1") as response:
            core = await response.json()
        assert core["groupVersion"] == "v1"
        assert {"pods", "pods/status", "namespaces", "secrets"} <= {r["name"] for r in core["resources"]}
        async with http.get(f"{kubesim.url}/apis") as response:
            groups = {g["name"] for g in (await response.json())["groups"]}
        expected = {
            "apps",
            "batch",
            "networking.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
            "coordination.k8s.io",
            "events.k8s.io",
            "storage.k8s.io",
            "autoscaling",
        }
        assert expected <= groups
        async with http.get(f"{kubesim.url}/openapi/v3") as response:
            paths = (await response.json())["paths"]
        async with http.get(f"{kubesim.url}{paths['apis/apps/v1']['serverRelativeURL']}") as response:
            doc = await response.json()
        patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
        assert patch["x-kubernetes-group-version-kind"] == {
            "group": "apps",
            "version": "v1",
            "kind": "Deployment",
        }
        assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
        async with http.get(f"{kubesim.url}/apis/no.such.group/v1") as response:
            assert response.status == 404


async def test_secret_string_data_is_folded_into_data(api: ApiClient) -> None:
    core = CoreV1Api(api)
    ns = await _namespace(core)
    body: Any = {"metadata": {"name": "creds"}, "data": {"a": "MQ=="}, "stringData": {"b": "two"}}
    created = await core.create_namespaced_secret(ns, body)
    assert created.data == {"a": "MQ==", "b": base64.b64encode(b"two").decode()}
    assert created.string_data is None
