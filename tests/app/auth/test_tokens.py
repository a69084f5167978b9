from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from storeplane.auth.tokens import (
    DEV_OWNER,
    Caller,
    TokenAuthenticator,
    bearer_token,
    connection_params_token,
    ensure_dev_token,
    load_tokens,
)
from tests.app.database_helpers import make_settings

TOKEN = "t0ken-for-alice-0123456789"


def test_configured_tokens_map_to_their_owners(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_tokens=f"{TOKEN}:alice,another-token-for-bob-99:bob")
    authenticator = TokenAuthenticator(load_tokens(settings))
    assert authenticator.authenticate(TOKEN) == Caller("alice")
    assert authenticator.authenticate("another-token-for-bob-99") == Caller("bob")
    assert authenticator.authenticate(TOKEN[:-1]) is None
    assert authenticator.authenticate(None) is None
    assert not (settings.data_dir / "dev-token").exists()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (f"Bearer {TOKEN}", TOKEN),
        (f"bearer   {TOKEN} ", TOKEN),
        (f"Basic {TOKEN}", None),
        ("Bearer ", None),
        (TOKEN, None),
        (None, None),
    ],
)
def test_bearer_token_is_read_from_the_authorization_header(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    ("params", "token"),
    [
        ({"Authorization": f"Bearer {TOKEN}"}, TOKEN),
        ({"authorization": f"Bearer {TOKEN}"}, TOKEN),
        ({"token": TOKEN}, TOKEN),
        ({"token": 12}, None),
        ({}, None),
        (None, None),
    ],
)
def test_connection_init_payload_carries_the_token(
    params: dict[str, object] | None, token: str | None
) -> None:
    assert connection_params_token(params) == token


def test_without_configured_tokens_a_dev_token_file_is_created_private_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    with caplog.at_level(logging.INFO):
        tokens = load_tokens(settings)
    path = settings.data_dir / "dev-token"
    [(token, owner)] = tokens.items()
    assert owner == DEV_OWNER
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in caplog.text
    assert token not in caplog.text
    assert load_tokens(settings) == tokens  # reused on restart
    assert [p.name for p in settings.data_dir.iterdir()] == ["dev-token"]  # no temporary left behind


def test_a_dev_token_file_readable_by_others_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "dev-token"
    path.write_text("existing-token-value-123\n")
    path.chmod(0o644)
    assert ensure_dev_token(path) == "existing-token-value-123"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
