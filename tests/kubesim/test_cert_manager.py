"""cert-manager in kubesim: its kinds and CRDs served, Certificates issued by a simulated issuer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubesim.aggregated_discovery import MEDIA_TYPE
from kubesim.controllers import Controllers
from kubesim.controllers.certificates import PENDING_MESSAGE, READY_MESSAGE
from kubesim.faults import Faults, Rule
from kubesim.object_store import Obj, ObjectStore
from kubesim.process import KubesimProcess
from kubesim.resources import resource
from kubesim.settings import Delays, Settings

NAMESPACES = resource("", "namespaces")
SECRETS = resource("", "secrets")
CERTIFICATES = resource("cert-manager.io", "certificates")
ISSUERS = resource("cert-manager.io", "issuers")
CLUSTER_ISSUERS = resource("cert-manager.io", "clusterissuers")
CRDS = resource("apiextensions.k8s.io", "customresourcedefinitions")
WAIT = 5.0


@pytest.fixture
async def object_store() -> AsyncIterator[tuple[ObjectStore, Faults]]:
    settings = Settings(delays=Delays(certificate_issue=0.01))
    store = ObjectStore(settings)
    faults = Faults()
    controllers = Controllers(store, settings, faults)
    await controllers.start()
    try:
        yield store, faults
    finally:
        await controllers.stop()


def certificate(name: str, *, issuer: str, kind: str = "ClusterIssuer") -> Obj:
    return {
        "metadata": {"name": name, "labels": {"storeplane.io/store-id": "s1"}},
        "spec": {
            "secretName": name,
            "secretTemplate": {"labels": {"storeplane.io/store-id": "s1"}},
            "dnsNames": ["shop.example.com"],
            "issuerRef": {"group": "cert-manager.io", "kind": kind, "name": issuer},
        },
    }


def ready(obj: Obj | None) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return dict(cond)
    return {}


async def eventually(check: Callable[[], object], *, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def test_a_certificate_with_its_cluster_issuer_is_issued_with_its_secret(
    object_store: tuple[ObjectStore, Faults],
) -> None:
    store, _ = object_store
    store.create(NAMESPACES, "", {"metadata": {"name": "tls"}})
    store.create(CLUSTER_ISSUERS, "", {"metadata": {"name": "letsencrypt"}, "spec": {"selfSigned": {}}})
    store.create(CERTIFICATES, "tls", certificate("shop-tls", issuer="letsencrypt"))
    await eventually(
        lambda: ready(store.peek(CERTIFICATES, "tls", "shop-tls")).get("status") == "True", what="Ready"
    )
    cert = store.peek(CERTIFICATES, "tls", "shop-tls")
    assert cert is not None
    assert (ready(cert)["reason"], ready(cert)["message"]) == ("Ready", READY_MESSAGE)
    assert cert["status"]["notBefore"] < cert["status"]["renewalTime"] < cert["status"]["notAfter"]
    secret = store.peek(SECRETS, "tls", "shop-tls")
    assert secret is not None
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"]["storeplane.io/store-id"] == "s1"
    assert {"tls.crt", "tls.key"} <= secret["data"].keys()


async def test_a_certificate_waits_for_its_issuer_then_is_issued(
    object_store: tuple[ObjectStore, Faults],
) -> None:
    store, _ = object_store
    store.create(NAMESPACES, "", {"metadata": {"name": "wait"}})
    store.create(CERTIFICATES, "wait", certificate("shop-tls", issuer="local", kind="Issuer"))
    await eventually(lambda: ready(store.peek(CERTIFICATES, "wait", "shop-tls")), what="a Ready condition")
    pending = ready(store.peek(CERTIFICATES, "wait", "shop-tls"))
    assert (pending["status"], pending["reason"], pending["message"]) == (
        "False",
        "DoesNotExist",
        PENDING_MESSAGE,
    )
    assert store.peek(SECRETS, "wait", "shop-tls") is None
    store.create(ISSUERS, "wait", {"metadata": {"name": "local"}, "spec": {"selfSigned": {}}})
    await eventually(
        lambda: ready(store.peek(CERTIFICATES, "wait", "shop-tls")).get("status") == "True", what="Ready"
    )


async def test_certificate_pending_fault_holds_the_certificate_until_cleared(
    object_store: tuple[ObjectStore, Faults],
) -> None:
    store, faults = object_store
    store.create(NAMESPACES, "", {"metadata": {"name": "held"}})
    store.create(CLUSTER_ISSUERS, "", {"metadata": {"name": "ca"}, "spec": {"selfSigned": {}}})
    faults.add(Rule(action="certificate-pending", namespace="held", name="*-tls"))
    store.create(CERTIFICATES, "held", certificate("shop-tls", issuer="ca"))
    await eventually(lambda: ready(store.peek(CERTIFICATES, "held", "shop-tls")), what="a Ready condition")
    await asyncio.sleep(0.2)
    assert ready(store.peek(CERTIFICATES, "held", "shop-tls"))["message"] == PENDING_MESSAGE
    assert ready(store.peek(CERTIFICATES, "held", "shop-tls"))["status"] == "False"
    faults.clear()
    await eventually(
        lambda: ready(store.peek(CERTIFICATES, "held", "shop-tls")).get("status") == "True", what="Ready"
    )


async def _get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, Any]:
    async with http.get(url, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_cert_manager_kinds_and_crds_are_served_and_discovered(kubesim: KubesimProcess) -> None:
    async with aiohttp.ClientSession() as http:
        status, crd = await _get(
            http,
            f"{kubesim.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io",
        )
        assert status == 200
        assert (crd["spec"]["group"], crd["spec"]["names"]["kind"], crd["spec"]["scope"]) == (
            "cert-manager.io",
            "Certificate",
            "Namespaced",
        )
        assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
        status, crds = await _get(
            http, f"{kubesim.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        )
        names = {item["metadata"]["name"] for item in crds["items"]}
        assert {
            "certificates.cert-manager.io",
            "issuers.cert-manager.io",
            "clusterissuers.cert-manager.io",
        } <= names
        status, listed = await _get(http, f"{kubesim.url}/apis/cert-manager.io/v1")
        resources = {r["name"]: r for r in listed["resources"]}
        assert resources["clusterissuers"]["namespaced"] is False
        assert "certificates/status" in resources
        _, aggregated = await _get(http, f"{kubesim.url}/apis", Accept=f"{MEDIA_TYPE},application/json")
        groups = {item["metadata"]["name"]: item for item in aggregated["items"]}
        [v1] = groups["cert-manager.io"]["versions"]
        certs = next(r for r in v1["resources"] if r["resource"] == "certificates")
        assert certs["subresources"][0]["subresource"] == "status"
        status, _ = await _get(http, f"{kubesim.url}/apis/cert-manager.io/v1/namespaces/default/certificates")
        assert status == 200


async def test_a_cluster_without_cert_manager_answers_404(tmp_path: Path) -> None:
    sim = KubesimProcess(kubeconfig=tmp_path / "kubeconfig", extra_args=["--no-cert-manager"])
    sim.start()
    try:
        async with aiohttp.ClientSession() as http:
            for path in (
                "/apis/cert-manager.io/v1",
                "/apis/cert-manager.io/v1/namespaces/default/certificates",
                "/apis/cert-manager.io/v1/clusterissuers",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io",
            ):
                status, _ = await _get(http, f"{sim.url}{path}")
                assert status == 404, path
            _, groups = await _get(http, f"{sim.url}/apis")
            assert "cert-manager.io" not in {g["name"] for g in groups["groups"]}
            _, aggregated = await _get(http, f"{sim.url}/apis", Accept=f"{MEDIA_TYPE},application/json")
            assert "cert-manager.io" not in {item["metadata"]["name"] for item in aggregated["items"]}
    finally:
        sim.stop()
