from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from storeplane.cluster import helm_config
from storeplane.k8s.errors import HelmBinaryNotFound
from storeplane.paths import REPO_ROOT
from storeplane.settings import Settings, parse_api_tokens

TOKEN_A = "tok-aaaaaaaaaaaaaaaa"
TOKEN_B = "tok-bbbbbbbbbbbbbbbb"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("STOREPLANE_"):
            monkeypatch.delenv(key)


def test_defaults_keep_data_in_the_checkout() -> None:
    settings = Settings()
    assert settings.data_dir == REPO_ROOT / ".data"
    assert settings.database_url == f"sqlite://{REPO_ROOT / '.data' / 'storeplane.sqlite3'}"
    assert settings.is_sqlite
    assert settings.provisioning_concurrency == 4
    assert settings.provisioning_timeout_seconds == 900
    assert settings.max_stores_per_owner == 20
    assert settings.environment == "local"
    assert settings.values_file == REPO_ROOT / "values" / "local.yaml"
    assert settings.api_tokens == {}
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_every_setting_is_explained() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert "\n" not in field.description, name


def test_settings_come_from_prefixed_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STOREPLANE_PROVISIONING_CONCURRENCY", "8")
    monkeypatch.setenv("STOREPLANE_ENVIRONMENT", "prod")
    monkeypatch.setenv("STOREPLANE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STOREPLANE_BASE_DOMAIN", "Stores.Example.com.")
    settings = Settings()
    assert settings.provisioning_concurrency == 8
    assert settings.values_file.name == "prod.yaml"
    assert settings.database_url == f"sqlite://{tmp_path}/storeplane.sqlite3"
    assert settings.base_domain == "stores.example.com"


def test_postgres_is_selected_by_the_url_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREPLANE_DATABASE_URL", "postgres://sp:pw@db.internal:5432/storeplane")
    settings = Settings()
    assert not settings.is_sqlite


def test_api_tokens_are_parsed_into_a_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREPLANE_API_TOKENS", f" {TOKEN_A}:alice , {TOKEN_B}:bob@example.com,")
    settings = Settings()
    assert settings.api_tokens == {TOKEN_A: "alice", TOKEN_B: "bob@example.com"}
    assert TOKEN_A not in repr(settings)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (f"{TOKEN_A}alice", "entry 1 is malformed"),
        (f"{TOKEN_B}:bob,{TOKEN_A}:", "entry 2 is malformed"),
        (":alice", "entry 1 is malformed"),
        ("short-token:alice", "under 16 characters"),
        (f"{TOKEN_A}:al ice", "the owner must be"),
        (f"{TOKEN_A}:alice,{TOKEN_A}:bob", "entry 2 repeats the token"),
    ],
)
def test_malformed_api_tokens_are_rejected_without_echoing_the_token(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("STOREPLANE_API_TOKENS", raw)
    with pytest.raises(ValidationError) as caught:
        Settings()
    text = str(caught.value)
    assert message in text
    for secret in (TOKEN_A, TOKEN_B, "short-token"):
        assert secret not in text


def test_parse_api_tokens_allows_colons_inside_tokens() -> None:
    assert parse_api_tokens(f"a:{TOKEN_A}:alice") == {f"a:{TOKEN_A}": "alice"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"STOREPLANE_ENVIRONMENT": "staging"}, "environment"),
        ({"STOREPLANE_PROVISIONING_CONCURRENCY": "0"}, "provisioning_concurrency"),
        ({"STOREPLANE_DATABASE_URL": "mysql://root:hunter2@db/x"}, "scheme 'mysql' is not supported"),
        ({"STOREPLANE_BASE_DOMAIN": "not a domain"}, "base_domain must be a DNS name"),
        ({"STOREPLANE_IN_CLUSTER": "true", "STOREPLANE_KUBE_CONTEXT": "kind"}, "in_cluster"),
        (
            {"STOREPLANE_WATCH_BACKOFF_INITIAL_SECONDS": "60", "STOREPLANE_WATCH_BACKOFF_MAX_SECONDS": "5"},
            "must not exceed",
        ),
        ({"STOREPLANE_HELM_ENV_PASSTHROUGH": "VAULT_ADDR,STOREPLANE_*"}, "helm_env_passthrough entry 2"),
        ({"STOREPLANE_HELM_ENV_PASSTHROUGH": "STOREPLANE_API_TOKENS"}, "helm_env_passthrough entry 1"),
        ({"STOREPLANE_HELM_ENV_PASSTHROUGH": "DATABASE_URL"}, "helm_env_passthrough entry 1"),
    ],
)
def test_invalid_settings_fail_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message) as caught:
        Settings()
    assert "hunter2" not in str(caught.value)


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_helm_binary_setting_is_the_helm_that_runs(tmp_path: Path) -> None:
    # The fallbacks (the checkout's .tools/bin, then PATH): tests/app/k8s/test_helm_args.py.
    configured = _executable(tmp_path / "configured" / "helm")
    assert helm_config(Settings(helm_binary=configured)).binary == str(configured)
    with pytest.raises(HelmBinaryNotFound, match="not an executable"):
        helm_config(Settings(helm_binary=tmp_path / "missing"))


def test_the_helm_env_passthrough_setting_reaches_helms_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What helm then gets: tests/app/k8s/test_helm_env.py.
    configured = _executable(tmp_path / "helm")
    assert helm_config(Settings(helm_binary=configured)).env_passthrough == ()
    monkeypatch.setenv("STOREPLANE_HELM_ENV_PASSTHROUGH", " VAULT_ADDR, CLOUDSDK_* ,")
    settings = Settings(helm_binary=configured)
    assert settings.helm_env_passthrough == ("VAULT_ADDR", "CLOUDSDK_*")
    assert helm_config(settings).env_passthrough == ("VAULT_ADDR", "CLOUDSDK_*")
