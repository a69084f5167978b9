"""Aggregated discovery (apidiscovery.k8s.io/v2) as client-go asks for it; the plain documents otherwise."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kubesim.aggregated_discovery import MEDIA_TYPE, wants_aggregated
from kubesim.process import KubesimProcess

# What client-go 1.37 (helm 4.3, kubectl 1.37) sends to /api and /apis.
CLIENT_GO_ACCEPT = f"{MEDIA_TYPE},application/json"


@pytest.mark.parametrize(
    ("accept", "aggregated"),
    [
        (CLIENT_GO_ACCEPT, True),
        (f"{MEDIA_TYPE};profile=nopeer,{CLIENT_GO_ACCEPT}", True),
        ("application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io", True),
        ("application/json", False),
        ("", False),
        ("*/*", False),
        (f"application/json,{MEDIA_TYPE}", False),
        (f"application/json;q=0.5,{MEDIA_TYPE}", True),
        (f"{MEDIA_TYPE};q=0,application/json", False),
        # client-go before 1.35 also offered v2beta1, which the real server no longer converts to.
        ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", False),
        (
            f"application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,{MEDIA_TYPE}",
            True,
        ),
    ],
)
def test_content_negotiation_picks_aggregated_discovery_only_when_preferred(
    accept: str, aggregated: bool
) -> None:
    assert wants_aggregated(accept) is aggregated


async def _get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[aiohttp.ClientResponse, Any]:
    async with http.get(url, headers=headers) as response:
        body = await response.json(content_type=None) if response.status == 200 else None
        return response, body


async def test_apis_answers_every_group_version_and_resource_in_one_document(kubesim: KubesimProcess) -> None:
    async with aiohttp.ClientSession() as http:
        response, doc = await _get(http, f"{kubesim.url}/apis", Accept=CLIENT_GO_ACCEPT)
    assert response.headers["Content-Type"] == MEDIA_TYPE
    assert response.headers["Vary"] == "Accept"
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    groups = {item["metadata"]["name"]: item for item in doc["items"]}
    assert {"apps", "batch", "networking.k8s.io", "policy", "autoscaling"} <= groups.keys()
    [apps_v1] = groups["apps"]["versions"]
    assert (apps_v1["version"], apps_v1["freshness"]) == ("v1", "Current")
    deployments = next(r for r in apps_v1["resources"] if r["resource"] == "deployments")
    # As the real server writes it: a resource of the document's own group version leaves both empty.
    assert deployments["responseKind"] == {"group": "", "version": "", "kind": "Deployment"}
    assert (deployments["scope"], deployments["singularResource"]) == ("Namespaced", "deployment")
    assert (deployments["shortNames"], deployments["categories"]) == (["deploy"], ["all"])
    assert "watch" in deployments["verbs"]
    # Subresources sit under their parent, not beside it as in the plain resource list.
    assert {s["subresource"]: s["responseKind"] for s in deployments["subresources"]} == {
        "scale": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
        "status": {"group": "", "version": "", "kind": "Deployment"},
    }
    assert not any("/" in r["resource"] for r in apps_v1["resources"])


async def test_api_answers_the_core_group_without_a_name(kubesim: KubesimProcess) -> None:
    async with aiohttp.ClientSession() as http:
        response, doc = await _get(http, f"{kubesim.url}/api", Accept=CLIENT_GO_ACCEPT)
    assert response.headers["Content-Type"] == MEDIA_TYPE
    [core] = doc["items"]
    assert core["metadata"] == {}
    [v1] = core["versions"]
    namespaces = next(r for r in v1["resources"] if r["resource"] == "namespaces")
    assert namespaces["scope"] == "Cluster"
    assert {"pods", "secrets", "configmaps", "persistentvolumeclaims"} <= {
        r["resource"] for r in v1["resources"]
    }


async def test_the_etag_answers_304_to_a_client_that_holds_the_same_document(kubesim: KubesimProcess) -> None:
    async with aiohttp.ClientSession() as http:
        first, _ = await _get(http, f"{kubesim.url}/apis", Accept=CLIENT_GO_ACCEPT)
        etag = first.headers["ETag"]
        assert etag[0] == etag[-1] == '"'
        again, body = await _get(
            http, f"{kubesim.url}/apis", Accept=CLIENT_GO_ACCEPT, **{"If-None-Match": etag}
        )
        other, _ = await _get(
            http, f"{kubesim.url}/apis", Accept=CLIENT_GO_ACCEPT, **{"If-None-Match": '"stale"'}
        )
        core, _ = await _get(http, f"{kubesim.url}/api", Accept=CLIENT_GO_ACCEPT)
    assert (again.status, body, again.headers["ETag"]) == (304, None, etag)
    assert other.status == 200
    assert core.headers["ETag"] != etag


async def test_plain_json_still_gets_the_unaggregated_documents(kubesim: KubesimProcess) -> None:
    async with aiohttp.ClientSession() as http:
        apis, groups = await _get(http, f"{kubesim.url}/apis", Accept="application/json")
        api, versions = await _get(http, f"{kubesim.url}/api")
    for response in (apis, api):
        assert response.headers["Content-Type"].split(";")[0] == "application/json"
        assert "apidiscovery" not in response.headers["Content-Type"]
        assert "ETag" not in response.headers
    assert groups["kind"] == "APIGroupList"
    assert versions["kind"] == "APIVersions"
