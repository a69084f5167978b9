"""`storeplane serve` refuses to start with one line naming what to fix: exit 2, no traceback, no secret."""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
from pathlib import Path

import pytest

from storeplane.preflight import public_url
from tests.helpers import REPO, run

API_TOKEN = "preflight-secret-token-0123456789"
KUBE_TOKEN = "kube-secret-token-0123456789"
DB_PASSWORD = "db-secret-password-0123456789"
SECRETS = (API_TOKEN, KUBE_TOKEN, DB_PASSWORD)


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _kubeconfig(path: Path, *, server: str) -> Path:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server}"}}}}]
users: [{{name: u, user: {{token: {KUBE_TOKEN}}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
    )
    return path


async def _serve_refuses(tmp_path: Path, *args: str, **variables: str) -> str:
    """Run `storeplane serve` with these STOREPLANE_* variables; check that it failed as a person should see
    it fail, and return its one line."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STOREPLANE_", "KUBE"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),  # no ~/.kube/config of the machine's
        "STOREPLANE_API_TOKENS": f"{API_TOKEN}:alice",
        "STOREPLANE_DATA_DIR": str(tmp_path / "data"),
        **variables,
    }
    result = await run([sys.executable, "-m", "storeplane.cli", "serve", *args], env=env, timeout=60.0)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("storeplane: ")
    for secret in SECRETS:
        assert secret not in result.stderr + result.stdout
    return lines[0]


async def test_serve_without_helm_names_the_helm_setting(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-helm"
    line = await _serve_refuses(tmp_path, "--port", "0", STOREPLANE_HELM_BINARY=str(missing))
    assert str(missing) in line
    assert "STOREPLANE_HELM_BINARY" in line


def _fake_helm(tmp_path: Path, version: str) -> Path:
    """A stand-in for a third-party helm binary that only prints `helm version --short`."""
    fake = tmp_path / "helm"
    fake.write_text(f"#!/bin/sh\necho {version}\n")
    fake.chmod(0o755)
    return fake


async def test_serve_with_a_helm_3_asks_for_helm_4_2_4(tmp_path: Path) -> None:
    old = _fake_helm(tmp_path, "v3.14.2+g8a1b2c3")
    line = await _serve_refuses(tmp_path, "--port", "0", STOREPLANE_HELM_BINARY=str(old))
    assert "is v3.14.2, older than v4.2.4" in line
    assert "helm v4.2.4 or newer" in line


@pytest.mark.parametrize("version", ["v4.2.3+g1b2c3d4", "v4.1.4+g05fa379", "v4.0.0"])
async def test_serve_with_a_helm_4_before_4_2_4_asks_for_4_2_4(tmp_path: Path, version: str) -> None:
    # Before 4.2.4 helm does not retry the quota conflict of a server-side-apply create (helm#32087).
    old = _fake_helm(tmp_path, version)
    line = await _serve_refuses(tmp_path, "--port", "0", STOREPLANE_HELM_BINARY=str(old))
    shown = version.lstrip("v").split("+")[0]
    assert f"is v{shown}, older than v4.2.4" in line
    assert "helm v4.2.4 or newer" in line


@pytest.mark.parametrize("version", ["v4.2.4+g3900f43", "v4.10.0"])
async def test_serve_with_helm_4_2_4_or_newer_gets_past_the_helm_check(tmp_path: Path, version: str) -> None:
    # The versions compare as numbers (4.10 is newer than 4.2): the refusal is the next check's, the database.
    fake = _fake_helm(tmp_path, version)
    url = f"postgres://storeplane:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/storeplane"
    line = await _serve_refuses(
        tmp_path, "--port", "0", STOREPLANE_HELM_BINARY=str(fake), STOREPLANE_DATABASE_URL=url
    )
    assert "helm" not in line
    assert "STOREPLANE_DATABASE_URL" in line


async def test_serve_on_a_taken_port_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = await _serve_refuses(tmp_path, "--host", "127.0.0.1", "--port", str(port))
    assert f"port {port} is already in use" in line
    assert "STOREPLANE_PORT" in line


async def test_serve_with_a_data_folder_it_cannot_create_names_the_folder(tmp_path: Path) -> None:
    # A folder under a regular file cannot be created, even by root (whom permission bits do not stop).
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    data = blocker / "data"
    line = await _serve_refuses(tmp_path, "--port", "0", STOREPLANE_DATA_DIR=str(data))
    assert str(data) in line
    assert "STOREPLANE_DATA_DIR" in line


async def test_serve_with_a_locked_database_names_the_file(tmp_path: Path) -> None:
    database = tmp_path / "data" / "storeplane.sqlite3"
    database.parent.mkdir()
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as another serve mid-transaction holds it
        line = await _serve_refuses(tmp_path, "--port", "0", STOREPLANE_DATABASE_BUSY_TIMEOUT_MS="200")
    finally:
        holder.close()
    assert f"{database} is locked by another process" in line


async def test_serve_with_a_refusing_postgres_shows_its_url_without_the_password(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgres://storeplane:{DB_PASSWORD}@127.0.0.1:{port}/storeplane"
    line = await _serve_refuses(tmp_path, "--port", "0", STOREPLANE_DATABASE_URL=url)
    assert f"postgres://storeplane@127.0.0.1:{port}/storeplane" in line
    assert "connection refused" in line
    assert "STOREPLANE_DATABASE_URL" in line


async def test_serve_with_an_unreachable_cluster_names_the_server_and_the_settings(tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{_closed_port()}"
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", server=server)
    line = await _serve_refuses(tmp_path, "--port", "0", STOREPLANE_KUBECONFIG=str(kubeconfig))
    assert server in line
    assert str(kubeconfig) in line
    assert "STOREPLANE_KUBECONFIG" in line
    assert "STOREPLANE_KUBE_CONTEXT" in line


async def test_serve_with_a_missing_kubeconfig_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    line = await _serve_refuses(tmp_path, "--port", "0", STOREPLANE_KUBECONFIG=str(missing))
    assert f"{missing} (STOREPLANE_KUBECONFIG) does not exist" in line


def test_a_database_url_is_shown_without_password_or_query() -> None:
    assert public_url("postgres://bob:pw@db.example.com:5433/stores?sslpassword=x") == (
        "postgres://bob@db.example.com:5433/stores"
    )
    assert public_url("postgresql://db/stores") == "postgresql://db/stores"
    assert public_url("https://[::1]:6443") == "https://[::1]:6443"
