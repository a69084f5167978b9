"""The WooCommerce chart installed into kubesim by the real helm, exactly as the control plane does it.

The control plane creates the namespace (with the store labels), then runs (no --create-namespace)
`helm install <store> charts/woocommerce -n <ns> -f values/local.yaml -f <store file>`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.chart_helpers import CHART, REPO
from tests.helpers import Result, eventually, find_tool, run
from tests.kube_helpers import NAMESPACE_DEFAULTS, Kube, condition

# helm's own --timeout for --wait: kubesim's test profile makes every pod ready and the Job complete in ~0.5s.
WAIT_TIMEOUT = "60s"
STORE_LABEL = "storeplane.io/store-id"
DB_KEYS = {"mariadb-root-password", "mariadb-password"}
WORDPRESS_KEYS = {
    "admin-user",
    "admin-password",
    "auth-key",
    "secure-auth-key",
    "logged-in-key",
    "nonce-key",
    "auth-salt",
    "secure-auth-salt",
    "logged-in-salt",
    "nonce-salt",
}


@dataclass(frozen=True)
class Store:
    """One store as the control plane sees it, with helm and kubectl pointed at kubesim."""

    release: str
    namespace: str
    store_id: str
    store_file: Path
    kube: Kube

    async def helm(self, *args: str) -> Result:
        return await self.kube.helm(*args)

    async def kubectl(self, *args: str) -> Result:
        return await self.kube.kubectl("-n", self.namespace, *args)

    async def get(self, *args: str) -> Any:
        return await self.kube.get("-n", self.namespace, *args)

    async def install(self, verb: str = "install", *extra: str) -> Result:
        args = [verb, self.release, str(CHART), "-n", self.namespace]
        args += ["-f", str(REPO / "values" / "local.yaml"), "-f", str(self.store_file)]
        args += ["--wait", "--wait-for-jobs", "--timeout", WAIT_TIMEOUT, *extra]
        return (await self.helm(*args)).check()

    async def objects(self, *selector: str) -> set[str]:
        return await self.kube.objects(self.namespace, *selector)

    async def jobs(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.get("jobs"))["items"]
        return items

    async def secret_data(self) -> dict[str, dict[str, str]]:
        names = (f"{self.release}-db", f"{self.release}-wordpress")
        return {name: (await self.get("secret", name))["data"] for name in names}


@pytest.fixture
async def store(tmp_path: Path, kubectl: str, kube_env: dict[str, str]) -> AsyncIterator[Store]:
    """A namespace created and labelled as the control plane does, and the per-store values file."""
    suffix = uuid.uuid4().hex[:8]
    release, store_id = f"shop-{suffix}", f"st-{suffix}"
    store_file = tmp_path / "store.yaml"
    store_file.write_text(
        yaml.safe_dump({"store": {"id": store_id, "name": release, "host": f"{release}.localtest.me"}})
    )
    created = Store(
        release=release,
        namespace=f"store-{store_id}",
        store_id=store_id,
        store_file=store_file,
        kube=Kube(helm_bin=find_tool("helm"), kubectl_bin=kubectl, env=kube_env),
    )
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": created.namespace,
            "labels": {STORE_LABEL: store_id, "app.kubernetes.io/managed-by": "storeplane"},
        },
    }
    (await run([kubectl, "create", "-f", "-"], env=kube_env, stdin=json.dumps(namespace).encode())).check()
    yield created
    await created.kubectl("delete", "namespace", created.namespace, "--ignore-not-found", "--wait=false")


def setup_job_name(store: Store) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(store.release)}-setup-[0-9a-f]{{8}}$")


def env_value(job: dict[str, Any], name: str) -> str:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return next(str(e["value"]) for e in container["env"] if e["name"] == name)


async def test_install_wait_for_jobs_brings_up_a_labelled_store(store: Store) -> None:
    await store.install()

    r = store.release
    mariadb = await store.get("statefulset", f"{r}-mariadb")
    assert mariadb["status"]["readyReplicas"] == mariadb["spec"]["replicas"] == 1
    assert mariadb["status"]["currentRevision"] == mariadb["status"]["updateRevision"]
    wordpress = await store.get("deployment", f"{r}-wordpress")
    assert condition(wordpress, "Available") == "True"
    assert wordpress["status"]["readyReplicas"] == wordpress["spec"]["replicas"] == 1
    for claim in (f"data-{r}-mariadb-0", f"{r}-wp-content"):
        assert (await store.get("pvc", claim))["status"]["phase"] == "Bound"
    jobs = await store.jobs()
    assert len(jobs) == 1
    assert setup_job_name(store).match(jobs[0]["metadata"]["name"])
    assert condition(jobs[0], "Complete") == "True"

    # Every object carries the store label, including those the controllers made from templates (pods,
    # ReplicaSet, claims, revisions, endpoints); only the namespace defaults and helm's release record do not.
    unlabelled = await store.objects("-l", f"!{STORE_LABEL}")
    assert unlabelled == NAMESPACE_DEFAULTS | {f"Secret/sh.helm.release.v1.{r}.v1"}
    labelled = await store.objects("-l", f"{STORE_LABEL}={store.store_id}")
    manifest = (await store.helm("get", "manifest", r, "-n", store.namespace)).check().stdout
    rendered = {f"{d['kind']}/{d['metadata']['name']}" for d in yaml.safe_load_all(manifest) if d}
    assert rendered <= labelled
    for kind in ("Pod", "ReplicaSet", "ControllerRevision", "Endpoints"):
        assert any(name.startswith(f"{kind}/") for name in labelled - rendered), kind
    # helm left the namespace as the control plane made it.
    namespace = json.loads((await store.kubectl("get", "namespace", store.namespace, "-o", "json")).stdout)
    assert namespace["metadata"]["labels"][STORE_LABEL] == store.store_id
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "storeplane"


async def test_upgrade_with_the_same_values_keeps_the_passwords_and_the_finished_job(store: Store) -> None:
    await store.install()
    secrets = await store.secret_data()
    assert set(secrets[f"{store.release}-db"]) == DB_KEYS
    assert set(secrets[f"{store.release}-wordpress"]) == WORDPRESS_KEYS
    versions = {name: (await store.get("secret", name))["metadata"]["resourceVersion"] for name in secrets}
    [job] = await store.jobs()

    await store.install("upgrade")

    assert await store.secret_data() == secrets
    # Nothing about the Secrets changed, so the upgrade did not even write them.
    assert {n: (await store.get("secret", n))["metadata"]["resourceVersion"] for n in secrets} == versions
    [kept] = await store.jobs()
    assert kept["metadata"]["name"] == job["metadata"]["name"]
    assert kept["metadata"]["uid"] == job["metadata"]["uid"]
    status = json.loads(
        (await store.helm("status", store.release, "-n", store.namespace, "-o", "json")).check().stdout
    )
    assert (status["version"], status["info"]["status"]) == (2, "deployed")


async def test_upgrade_changing_the_woocommerce_version_runs_a_new_setup_job(store: Store) -> None:
    await store.install()
    secrets = await store.secret_data()
    [old] = await store.jobs()

    await store.install("upgrade", "--set", "woocommerce.version=10.9.5")

    [new] = await store.jobs()
    assert new["metadata"]["name"] != old["metadata"]["name"]
    assert setup_job_name(store).match(new["metadata"]["name"])
    assert env_value(new, "WOOCOMMERCE_VERSION") == "10.9.5"
    assert condition(new, "Complete") == "True"
    assert await store.secret_data() == secrets


async def test_uninstall_keeps_the_data_and_namespace_deletion_removes_everything(store: Store) -> None:
    await store.install()
    r = store.release
    claims = (await store.get("pvc"))["items"]
    volumes = {claim["spec"]["volumeName"] for claim in claims}
    assert len(volumes) == 2

    uninstalled = (await store.helm("uninstall", r, "-n", store.namespace, "--wait")).check()

    assert "These resources were kept due to the resource policy" in uninstalled.stdout
    # The Secrets and the wp-content claim carry helm.sh/resource-policy: keep; the StatefulSet's claim is
    # retained by Kubernetes itself. Pods of the deleted workloads may take a moment to terminate.
    kept = {
        f"Secret/{r}-db",
        f"Secret/{r}-wordpress",
        f"PersistentVolumeClaim/{r}-wp-content",
        f"PersistentVolumeClaim/data-{r}-mariadb-0",
    }

    async def only_kept() -> bool:
        return await store.objects() - NAMESPACE_DEFAULTS == kept

    await eventually(only_kept, timeout=10, what=f"only {sorted(kept)} left in {store.namespace}")

    (await store.kubectl("delete", "namespace", store.namespace, "--timeout=30s")).check()

    missing = await store.kubectl("get", "namespace", store.namespace)
    assert f'namespaces "{store.namespace}" not found' in missing.stderr
    everywhere = json.loads((await store.kubectl("get", "pv", "-o", "json")).check().stdout)
    assert volumes.isdisjoint(pv["metadata"]["name"] for pv in everywhere["items"])
