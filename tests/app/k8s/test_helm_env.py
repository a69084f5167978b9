"""The environment helm runs with: the pure filter, the passthrough setting's entries, and a helm shim started
by the real wrapper that records what it was given."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

import pytest

from storeplane.k8s.errors import ReleaseNotFound
from storeplane.k8s.helm import Helm, HelmConfig
from storeplane.k8s.helm_env import helm_environment, parse_passthrough

TOKENS = "tok-aaaaaaaaaaaaaaaa:alice"
DATABASE_URL = "postgres://storeplane:hunter2@db.internal:5432/storeplane"
# What helm and kubeconfig exec credential plugins need; all of it passes.
NEEDED = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/home/storeplane",
    "KUBECONFIG": "/etc/kube/config",
    "HELM_CACHE_HOME": "/var/cache/helm",
    "HELM_DRIVER": "secret",
    "KUBERNETES_SERVICE_HOST": "10.96.0.1",
    "KUBERNETES_SERVICE_PORT": "443",
    "HTTP_PROXY": "http://proxy:3128",
    "HTTPS_PROXY": "http://proxy:3128",
    "NO_PROXY": "10.0.0.0/8",
    "http_proxy": "http://proxy:3128",
    "https_proxy": "http://proxy:3128",
    "no_proxy": ".cluster.local",
    "AWS_PROFILE": "eks",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "GOOGLE_APPLICATION_CREDENTIALS": "/etc/gcp/key.json",
    "AZURE_CLIENT_ID": "azure-id",
    "TMPDIR": "/var/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "XDG_CONFIG_HOME": "/home/storeplane/.config",
    "SSL_CERT_FILE": "/etc/ssl/corp-ca.pem",
}
# The server's secrets and everything helm has no use for; none of it passes.
UNNEEDED = {
    "STOREPLANE_API_TOKENS": TOKENS,
    "STOREPLANE_DATABASE_URL": DATABASE_URL,
    "storeplane_api_tokens": TOKENS,
    "DATABASE_URL": DATABASE_URL,
    "PAYMENT_GATEWAY_SECRET": "sk-live-0123456789",
    "GITHUB_TOKEN": "ghp-0123456789",
    "KUBERNETES_PORT": "tcp://10.96.0.1:443",
    "XDG_RUNTIME_DIR": "/run/user/1000",
    "VIRTUAL_ENV": "/work/main/.venv",
    "SHELL": "/bin/bash",
}


def test_helm_gets_what_helm_and_credential_plugins_need_and_nothing_else() -> None:
    assert helm_environment({**NEEDED, **UNNEEDED}) == NEEDED


def test_passthrough_adds_exact_names_and_prefix_patterns() -> None:
    source = {
        "VAULT_ADDR": "https://vault:8200",
        "VAULT_TOKEN": "s.secret",
        "CLOUDSDK_CONFIG": "/etc/gcloud",
        "CLOUDSDK": "no underscore",
        "vault_addr": "other case",
    }
    assert helm_environment(source, passthrough=["VAULT_ADDR", "CLOUDSDK_*"]) == {
        "VAULT_ADDR": "https://vault:8200",
        "CLOUDSDK_CONFIG": "/etc/gcloud",
    }


def test_storeplane_variables_and_database_urls_never_reach_helm_even_when_passed_through() -> None:
    # helm_environment does not validate its passthrough (parse_passthrough does): the denial holds anyway.
    source = {
        **UNNEEDED,
        "APP_DATABASE_URL": DATABASE_URL,
        "APP_DSN": "postgresql+asyncpg://sp:hunter2@db/storeplane",
        "HELM_STORE_DB": "POSTGRES://sp:hunter2@db/storeplane",
        "APP_NAME": "kept",
    }
    passthrough = ["STOREPLANE_*", "storeplane_api_tokens", "DATABASE_URL", "APP_*", "PAYMENT_GATEWAY_SECRET"]
    assert helm_environment(source, passthrough=passthrough) == {
        "APP_NAME": "kept",
        "PAYMENT_GATEWAY_SECRET": "sk-live-0123456789",
    }


def test_passthrough_entries_are_trimmed_and_deduplicated() -> None:
    assert parse_passthrough(" VAULT_ADDR, CLOUDSDK_* ,,VAULT_ADDR,") == ("VAULT_ADDR", "CLOUDSDK_*")
    assert parse_passthrough("") == ()
    assert parse_passthrough(["_X"]) == ("_X",)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("*", "whole environment"),
        ("STOREPLANE_*", "STOREPLANE_"),
        ("STORE*", "STOREPLANE_"),
        ("storeplane_api_*", "STOREPLANE_"),
        ("STOREPLANE_API_TOKENS", "names a STOREPLANE_"),
        ("DATABASE_URL", "database URL"),
        ("MY_DATABASE_URL", "database URL"),
        ("DATA*", "database URL"),
        ("A B", "not a variable name"),
        ("A*B", "not a variable name"),
        ("1ABC", "not a variable name"),
    ],
)
def test_passthrough_refuses_entries_that_could_leak_the_servers_secrets(entry: str, reason: str) -> None:
    with pytest.raises(ValueError, match="helm_env_passthrough entry 2") as refused:
        parse_passthrough(f"VAULT_ADDR,{entry}")
    assert reason in str(refused.value)


def test_a_helm_config_built_in_code_refuses_a_leaking_passthrough() -> None:
    with pytest.raises(ValueError, match="STOREPLANE_"):
        HelmConfig(binary="helm", env_passthrough=("STOREPLANE_*",))


# --- through the real wrapper ---------------------------------------------------------------------------

# A stand-in for helm: /proc/$$/environ is exactly the environment the wrapper started it with (the shell's
# own variables, PWD and the like, are not in it). Then it answers `list` like helm with no releases, and
# anything else like helm asked about a missing release, which the wrapper maps to ReleaseNotFound.
SHIM = """#!/bin/sh
cat /proc/$$/environ > {dump}
case "$1" in
  list) echo '[]' ;;
  *) echo 'Error: release: not found' >&2; exit 1 ;;
esac
"""
SECRETS = {
    "STOREPLANE_API_TOKENS": TOKENS,
    "STOREPLANE_DATABASE_URL": DATABASE_URL,
    "PAYMENT_GATEWAY_SECRET": "sk-live-0123456789",
}


def shim(folder: Path) -> tuple[str, Path]:
    """The shim's path, and the file where it writes its environment."""
    dump = folder / "helm-environ"
    path = folder / "helm"
    path.write_text(SHIM.format(dump=shlex.quote(str(dump))))
    path.chmod(0o755)
    return str(path), dump


def environment_seen(dump: Path) -> dict[str, str]:
    """The environment the shim recorded; the record is removed, so the next call must write its own."""
    names_and_values = (item.partition("=") for item in dump.read_bytes().decode().split("\0") if item)
    dump.unlink()
    return {name: value for name, _, value in names_and_values}


async def assert_helm_sees_only_what_it_needs(helm: Helm, dump: Path, expected: Mapping[str, str]) -> None:
    assert await helm.list_releases(namespace=None) == []
    listed = environment_seen(dump)
    with pytest.raises(ReleaseNotFound):
        await helm.status(release="shop", namespace="store-shop")
    for seen in (listed, environment_seen(dump)):
        assert seen.keys().isdisjoint(SECRETS)
        assert not any(secret in seen.values() for secret in SECRETS.values())
        assert {name: seen.get(name) for name in expected} == expected


async def test_helm_never_sees_the_servers_secrets_in_its_inherited_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    binary, dump = shim(tmp_path)
    wanted = {
        "HOME": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "CORP_CA_BUNDLE": "/etc/ssl/corp.pem",
    }
    for name, value in {**SECRETS, **wanted}.items():
        monkeypatch.setenv(name, value)
    # env None: what the server's `helm_config(settings)` builds, helm's environment taken from the server's.
    helm = Helm(HelmConfig(binary=binary, env_passthrough=("CORP_CA_*",)))

    await assert_helm_sees_only_what_it_needs(helm, dump, {**wanted, "PATH": os.environ["PATH"]})


async def test_an_explicit_helm_environment_is_filtered_too(tmp_path: Path) -> None:
    binary, dump = shim(tmp_path)
    wanted = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "CORP_CA_BUNDLE": "/etc/ssl/corp.pem",
    }
    helm = Helm(HelmConfig(binary=binary, env={**SECRETS, **wanted}, env_passthrough=("CORP_CA_BUNDLE",)))

    await assert_helm_sees_only_what_it_needs(helm, dump, wanted)
