"""Browser sessions: a signed cookie that stands for one configured token, never containing it.

The cookie value is `<expiry>.<fingerprint>.<signature>`: the fingerprint is an HMAC of the token under the
server's session key (so the cookie reveals nothing about the token), the signature an HMAC of the rest. A
session is valid while it has not expired and its token is still configured: removing a token from
STOREPLANE_API_TOKENS signs out every browser that used it. The key lives in `<data_dir>/session-key`, so
sessions survive a restart of the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from storeplane.auth.tokens import ensure_secret_file
from storeplane.settings import Settings

SESSION_COOKIE = "storeplane_session"
SESSION_KEY_FILE = "session-key"
# How long a browser stays signed in before the sign-in URL (or a pasted token) is needed again.
SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SessionSigner:
    """Issues and checks session cookie values for the configured tokens."""

    def __init__(
        self,
        key: bytes,
        *,
        tokens: Mapping[str, str],
        max_age: float = SESSION_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._max_age = max_age
        self._clock = clock
        self._by_fingerprint = {self._fingerprint(token): token for token in tokens}

    @property
    def max_age(self) -> int:
        return int(self._max_age)

    def issue(self, token: str) -> str | None:
        """A cookie value for `token`; None when it is not a configured token."""
        fingerprint = self._fingerprint(token)
        known = self._by_fingerprint.get(fingerprint)
        if known is None or not hmac.compare_digest(known.encode(), token.encode()):
            return None
        payload = f"{int(self._clock() + self._max_age)}.{fingerprint}"
        return f"{payload}.{self._sign(payload)}"

    def token_of(self, value: str | None) -> str | None:
        """The token a cookie value stands for; None when it is malformed, forged, expired or revoked."""
        if not value:
            return None
        payload, _, signature = value.rpartition(".")
        expiry, _, fingerprint = payload.partition(".")
        if not hmac.compare_digest(self._sign(payload).encode(), signature.encode()):
            return None
        try:
            if int(expiry) <= self._clock():
                return None
        except ValueError:
            return None
        return self._by_fingerprint.get(fingerprint)

    def _fingerprint(self, token: str) -> str:
        return _b64(hmac.new(self._key, b"token:" + token.encode(), hashlib.sha256).digest()[:18])

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, b"session:" + payload.encode(), hashlib.sha256).digest())


def load_session_key(settings: Settings) -> bytes:
    """The session key in the data folder, created (mode 0600) on first use. Blocking file I/O."""
    return ensure_secret_file(Path(settings.data_dir) / SESSION_KEY_FILE).encode()
