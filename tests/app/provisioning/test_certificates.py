"""With TLS on, a store is Ready only once cert-manager (kubesim's issuer) has issued its Certificate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import yaml

from kubesim.client import ControlClient
from kubesim.process import KubesimProcess
from storeplane.events.models import StoreEvent
from storeplane.stores.models import Store, StoreStatus
from storeplane.stores.progress import store_progress
from storeplane.stores.records import StoreRecord
from tests.app.provisioning.stack_helpers import Stack, provisioning, reaches, status_of, unique_name
from tests.helpers import REPO, eventually

pytestmark = pytest.mark.timeout(240)

ISSUER = "storeplane-test-issuer"
PENDING = "Issuing certificate as Secret does not exist"


def tls_values_dir(tmp_path: Path) -> Path:
    """values/local.yaml with TLS on and our ClusterIssuer: what kubesim can install (prod.yaml wants Traefik
    and classes kubesim lacks). Written as local.yaml, the environment the settings accept."""
    values = yaml.safe_load((REPO / "values" / "local.yaml").read_text())
    values["environment"]["tls"] = {"enabled": True, "clusterIssuer": ISSUER}
    folder = tmp_path / "values"
    folder.mkdir()
    (folder / "local.yaml").write_text(yaml.safe_dump(values))
    return folder


async def ensure_cluster_issuer(kubesim: KubesimProcess) -> None:
    body = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": ISSUER},
        "spec": {"selfSigned": {}},
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{kubesim.url}/apis/cert-manager.io/v1/clusterissuers", json=body) as response,
    ):
        assert response.status in (201, 409), await response.text()  # 409: an earlier test made it


@asynccontextmanager
async def tls_provisioning(
    tmp_path: Path, kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], *, timeout: float
) -> AsyncIterator[Stack]:
    """The running system with TLS on (local values plus a ClusterIssuer that kubesim's issuer serves)."""
    await ensure_cluster_issuer(kubesim)
    async with provisioning(
        tmp_path,
        kubesim=kubesim,
        helm_bin=helm,
        kube_env=kube_env,
        values_dir=tls_values_dir(tmp_path),
        provisioning_timeout_seconds=timeout,
    ) as stack:
        yield stack


def progress_of(stack: Stack, store: StoreRecord) -> list[tuple[str, bool]]:
    progress = store_progress(store=store, catalog=stack.system.core.catalog, tracker=stack.observer)
    return [(step.id, step.done) for step in progress.steps]


async def test_with_tls_a_store_is_ready_once_its_certificate_is_issued(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    async with tls_provisioning(tmp_path, kubesim, helm, kube_env, timeout=60) as stack:
        assert stack.observer.features == {"tls"}
        name = unique_name()
        store = await stack.new_store(name)
        await stack.provisioner.submit(store.id)
        ready = await reaches(store.id, StoreStatus.READY)
        assert ready.storefront_url == f"https://{name}.localtest.me/"
        record = StoreRecord.of(ready)
        steps = progress_of(stack, record)
        assert steps[-1] == ("certificate", True)
        assert all(done for _, done in steps)
        assert len(steps) == len(stack.system.core.catalog.engines["woocommerce"].steps)
        resources = {(r.kind, r.name): r.state for r in stack.observer.resources(store.id)}
        assert resources[("Certificate", f"{name}-tls")] == "issued"
        events = await StoreEvent.filter(store_id=store.id).order_by("id")
        reasons = [event.reason for event in events]
        assert reasons.count("CertificateIssued") == 1
        assert reasons.index("CertificateIssued") < reasons.index("Ready")


async def test_a_pending_certificate_holds_the_store_in_provisioning_until_issued(
    kubesim: KubesimProcess, helm: str, kube_env: dict[str, str], control: ControlClient, tmp_path: Path
) -> None:
    async with tls_provisioning(tmp_path, kubesim, helm, kube_env, timeout=120) as stack:
        name = unique_name()
        store = await stack.new_store(name)
        await control.add_fault("certificate-pending", namespace=store.namespace, name=f"{name}-tls")
        await stack.provisioner.submit(store.id)
        held = f"Certificate {name}-tls not issued: {PENDING}"

        async def only_the_certificate_waits() -> bool:
            assessment = stack.observer.assess(store.id)
            return assessment is not None and assessment.waiting_for == (held,)

        # Everything else gets ready; the Certificate alone holds the store back, and says why.
        await eventually(
            only_the_certificate_waits, timeout=60, interval=0.1, what="only the Certificate waiting"
        )
        assert await status_of(store.id) == StoreStatus.PROVISIONING
        steps = dict(progress_of(stack, StoreRecord.of(await Store.get(id=store.id))))
        assert steps["certificate"] is False
        assert steps["setup"] is True
        issuing = await StoreEvent.filter(store_id=store.id, reason="CertificateIssuing")
        assert [event.message for event in issuing] == [held]
        await control.clear_faults()
        await reaches(store.id, StoreStatus.READY, timeout=30)
        assert await StoreEvent.filter(store_id=store.id, reason="CertificateIssued").count() == 1
