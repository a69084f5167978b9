"""Browser sessions, kept server-side: the cookie holds a random secret, the database its SHA-256.

A session is valid until it expires or is revoked (sign-out, `revokeSession`), and while what it was signed in
with still stands: removing a token from STOREPLANE_API_TOKENS signs out every browser signed in with it
(TokenAuthenticator.vouches_for). Any replica on the same database can check any session.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storeplane.auth.models import Session

log = logging.getLogger(__name__)

SESSION_COOKIE = "storeplane_session"
# A session's last_seen_at is written at most this often, so that browsing is not a stream of writes.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
# Rows past their expiry are kept this long (mySessions no longer shows them), then deleted.
EXPIRED_KEPT = timedelta(days=1)
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def is_session_id(value: str) -> bool:
    """Whether `value` has the shape of a session id (anything else is no session)."""
    return bool(_ID_RE.fullmatch(value))


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    owner: str
    role: str
    signed_in_with: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    client_address: str | None

    @classmethod
    def from_row(cls, row: Session) -> SessionRecord:
        return cls(
            id=row.id,
            owner=row.owner,
            role=row.role,
            signed_in_with=row.signed_in_with,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            client_address=row.client_address,
        )


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class SessionStore:
    """Starts, checks, lists and revokes sessions; `vouches(owner, signed_in_with)`: a credential stands."""

    def __init__(
        self,
        *,
        max_age_seconds: float,
        vouches: Callable[[str, str], bool],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._max_age = timedelta(seconds=max_age_seconds)
        self._vouches = vouches
        self._clock = clock
        self._revoked_listeners: list[Callable[[str], None]] = []

    @property
    def max_age_seconds(self) -> int:
        return int(self._max_age.total_seconds())

    def on_revoked(self, listener: Callable[[str], None]) -> None:
        """Call `listener(session_id)` after a session is revoked in this process."""
        self._revoked_listeners.append(listener)

    async def start(
        self,
        *,
        owner: str,
        role: str,
        signed_in_with: str,
        user_agent: str | None,
        client_address: str | None,
    ) -> tuple[str, SessionRecord]:
        """A new session: the cookie value (shown once, never stored) and its record."""
        now = self._clock()
        await Session.filter(expires_at__lt=now - EXPIRED_KEPT).delete()
        secret = secrets.token_urlsafe(32)
        row = await Session.create(
            id=secrets.token_hex(16),
            secret_hash=secret_hash(secret),
            owner=owner,
            role=role,
            signed_in_with=signed_in_with,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self._max_age,
            user_agent=(user_agent or None) and user_agent[:256],
            client_address=client_address,
        )
        log.info("session %s started for %s (%s)", row.id, owner, signed_in_with)
        return secret, SessionRecord.from_row(row)

    async def resolve(self, cookie: str | None) -> SessionRecord | None:
        """The live session a cookie value stands for; None when malformed, unknown, expired or revoked."""
        if not cookie or not _SECRET_RE.fullmatch(cookie):
            return None
        row = await Session.get_or_none(secret_hash=secret_hash(cookie), revoked_at=None)
        if row is None or not self._live(row):
            return None
        now = self._clock()
        if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
            await Session.filter(id=row.id).update(last_seen_at=now)
            row.last_seen_at = now
        return SessionRecord.from_row(row)

    async def of_owner(self, owner: str) -> list[SessionRecord]:
        """The owner's live sessions, newest first."""
        rows = await Session.filter(owner=owner, revoked_at=None, expires_at__gt=self._clock()).order_by(
            "-created_at"
        )
        return [SessionRecord.from_row(row) for row in rows if self._live(row)]

    async def revoke(self, *, owner: str, id: str) -> bool:
        """Revoke one of the owner's live sessions; False when there is none with this id."""
        revoked = await Session.filter(id=id, owner=owner, revoked_at=None).update(revoked_at=self._clock())
        if not revoked:
            return False
        log.info("session %s of %s revoked", id, owner)
        for listener in self._revoked_listeners:
            listener(id)
        return True

    def _live(self, row: Session) -> bool:
        return row.expires_at > self._clock() and self._vouches(row.owner, row.signed_in_with)
