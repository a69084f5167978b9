"""Fixtures for the WooCommerce chart tests (helpers live in chart_helpers.py, importable by test modules)."""

from __future__ import annotations

import os

import pytest

from tests.chart.chart_helpers import ENVIRONMENTS, Helm, Manifest, find_helm


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("helm-home")
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(kubeconfig),
    }
    return Helm(binary=find_helm(), env=env, workdir=tmp_path_factory.mktemp("values"))


@pytest.fixture(scope="session")
def rendered(helm: Helm) -> dict[str, list[Manifest]]:
    """Manifests per environment, rendered once for the whole session."""
    return {environment: helm.render(environment) for environment in ENVIRONMENTS}


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifests(rendered: dict[str, list[Manifest]], environment: str) -> list[Manifest]:
    return rendered[environment]
