"""Helpers for the WooCommerce chart tests: a sandboxed helm, manifests rendered as the control plane does.

Every helm call gets its own HELM_*_HOME directories and a KUBECONFIG pointing at an empty temp file, so
nothing reads or writes the user's home or reaches a cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "woocommerce"
ENVIRONMENTS = ("local", "prod")
RELEASE = "demo-shop"
NAMESPACE = "store-st-0001"
# Exactly the three keys the control plane writes into the per-store values file.
STORE_VALUES: dict[str, Any] = {
    "store": {"id": "st-0001", "name": "Demo Shop", "host": "demo-shop.localtest.me"},
}
# Seconds any single helm call may take; rendering this chart takes well under one.
HELM_TIMEOUT = 60

Manifest = dict[str, Any]


def find_helm() -> str:
    """`<repo>/.tools/bin/helm` (scripts/install-tools), else helm on PATH."""
    bundled = REPO / ".tools" / "bin" / "helm"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("helm")
    if found is None:
        pytest.fail(
            "helm not found: run scripts/install-tools (installs .tools/bin/helm) or put helm on PATH"
        )
    return found


@dataclass(frozen=True)
class Helm:
    """helm with a private home; `run` returns the completed process without raising."""

    binary: str
    env: Mapping[str, str]
    workdir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args],
            env=dict(self.env),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=HELM_TIMEOUT,
            check=False,
        )

    def values_file(self, values: Mapping[str, Any]) -> Path:
        """Writes values to a new file in the session's temp dir (the core passes values as files too)."""
        handle, name = tempfile.mkstemp(suffix=".yaml", dir=self.workdir)
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(dict(values), out)
        return Path(name)

    def template_args(
        self,
        environment: str,
        *,
        extra: Mapping[str, Any] | None = None,
        release: str = RELEASE,
        store: Mapping[str, Any] = STORE_VALUES,
    ) -> list[str]:
        """`helm template` arguments as the control plane passes them: env values, then the per-store file."""
        args = [
            "template",
            release,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "-f",
            str(REPO / "values" / f"{environment}.yaml"),
            "-f",
            str(self.values_file(store)),
        ]
        if extra:
            args += ["-f", str(self.values_file(extra))]
        return args

    def render_text(self, environment: str, **kwargs: Any) -> str:
        result = self.run(*self.template_args(environment, **kwargs))
        if result.returncode != 0:
            pytest.fail(f"helm template failed:\n{result.stderr}")
        return result.stdout

    def render(self, environment: str, **kwargs: Any) -> list[Manifest]:
        return [doc for doc in yaml.safe_load_all(self.render_text(environment, **kwargs)) if doc]


def env_values(environment: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "values" / f"{environment}.yaml").read_text())
    return loaded


def chart_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, found {[m['metadata']['name'] for m in found]}"
    return found[0]


def pod_template(workload: Manifest) -> dict[str, Any]:
    """The pod template of a Deployment, StatefulSet, Job or CronJob (whose Job template holds it)."""
    spec = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = pod_template(workload)["spec"]
    return spec


def all_containers(workload: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    containers: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    return containers


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob")


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in WORKLOAD_KINDS]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]
