"""Bearer tokens: from STOREPLANE_API_TOKENS, or a generated development token kept in the data folder.

Tokens are secrets: nothing here logs or returns one, and lookups compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from storeplane.settings import Settings

log = logging.getLogger(__name__)

DEV_OWNER = "dev"
DEV_TOKEN_FILE = "dev-token"
_BEARER = "bearer "


# The one role static tokens carry today: full rights over the owner's own stores.
OWNER_ROLE = "owner"
SIGNED_IN_WITH_LINK = "sign-in link"


@dataclass(frozen=True)
class Caller:
    owner: str
    role: str = OWNER_ROLE
    # The browser session that authenticated this call; None for a bearer token.
    session_id: str | None = None


def token_fingerprint(token: str) -> str:
    """What a session records of the token it was signed in with: a hash prefix, never the token."""
    return "token sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


class TokenAuthenticator:
    """Maps a presented token to its caller, and says whether a session's credential is still configured."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(token.encode(), owner) for token, owner in tokens.items()]
        self._by_fingerprint = {token_fingerprint(token): owner for token, owner in tokens.items()}
        self._owners = frozenset(tokens.values())

    def knows_owner(self, owner: str) -> bool:
        return owner in self._owners

    def vouches_for(self, owner: str, signed_in_with: str) -> bool:
        """True while what a session was signed in with still stands for `owner`.

        Removing a token from the settings ends the sessions signed in with it; a sign-in link's session
        lasts while its owner has any token.
        """
        if signed_in_with == SIGNED_IN_WITH_LINK:
            return owner in self._owners
        return self._by_fingerprint.get(signed_in_with) == owner

    def authenticate(self, token: str | None) -> Caller | None:
        if not token:
            return None
        presented = token.encode()
        found: str | None = None
        # Every configured token is compared, so the time taken says nothing about which one nearly matched.
        for candidate, owner in self._tokens:
            if hmac.compare_digest(candidate, presented):
                found = owner
        return None if found is None else Caller(found)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None for anything else."""
    if authorization is None or authorization[: len(_BEARER)].lower() != _BEARER:
        return None
    token = authorization[len(_BEARER) :].strip()
    return token or None


def connection_params_token(params: Mapping[str, object] | None) -> str | None:
    """The token of a graphql-transport-ws `connection_init` payload.

    Accepts `{"Authorization": "Bearer <token>"}` (any case of the key, as GraphiQL's header editor sends it)
    or `{"token": "<token>"}`.
    """
    if not params:
        return None
    for key, value in params.items():
        if key.lower() == "authorization" and isinstance(value, str):
            return bearer_token(value)
    token = params.get("token")
    return token if isinstance(token, str) and token else None


def load_tokens(settings: Settings) -> dict[str, str]:
    """The configured tokens; with none configured, the development token (created on first use).

    Blocking file I/O: call it at start-up, from a thread when an event loop is running.
    """
    if settings.api_tokens:
        return dict(settings.api_tokens)
    path = settings.data_dir / DEV_TOKEN_FILE
    token = ensure_dev_token(path)
    log.warning(
        "STOREPLANE_API_TOKENS is empty: using the development token in %s (owner %r); "
        "send it as 'Authorization: Bearer <token>'",
        path,
        DEV_OWNER,
    )
    return {token: DEV_OWNER}


def ensure_dev_token(path: Path) -> str:
    """Read the token at `path`, or create it readable by this user only, atomically."""
    return ensure_secret_file(path)


def ensure_secret_file(path: Path) -> str:
    """Read the random secret at `path`, or create it readable by this user only, atomically.

    The file is written complete under a temporary name with mode 0600 and then linked into place, so another
    process never reads half a token; if two processes race, the first link wins and both use its token.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = _read_token(path)
    if existing is not None:
        return existing
    token = secrets.token_urlsafe(32)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(token + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            winner = _read_token(path)
            if winner is None:
                raise
            return winner
    finally:
        temporary.unlink(missing_ok=True)
    return token


def _read_token(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        # Someone widened it (or restored a backup): narrow it again rather than serve a readable secret.
        log.warning("%s was readable by other users: setting its mode to 0600", path)
        path.chmod(0o600)
    token = path.read_text().strip()
    if not token:
        raise RuntimeError(f"{path} is empty: delete it to generate a new development token")
    return token
