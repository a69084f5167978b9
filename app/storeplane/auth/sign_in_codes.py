"""One-time sign-in codes: minted by `storeplane sign-in-link`, redeemed once for a session cookie.

Only the code's SHA-256 is stored, so the database (or a backup of it) cannot sign anybody in; redeeming is
one conditional UPDATE, so two replicas redeeming the same code at once cannot both succeed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storeplane.auth.models import SignInCode
from storeplane.auth.sessions import EXPIRED_KEPT, secret_hash

_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


@dataclass(frozen=True, slots=True)
class Redeemed:
    owner: str
    role: str


def _now() -> datetime:
    return datetime.now(UTC)


class SignInCodes:
    def __init__(self, *, ttl_seconds: float, clock: Callable[[], datetime] = _now) -> None:
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock

    async def mint(self, *, owner: str, role: str) -> str:
        """A new code for `owner`; the only copy of it is the one returned."""
        now = self._clock()
        await SignInCode.filter(expires_at__lt=now - EXPIRED_KEPT).delete()
        code = secrets.token_urlsafe(24)
        await SignInCode.create(
            code_hash=secret_hash(code), owner=owner, role=role, created_at=now, expires_at=now + self._ttl
        )
        return code

    async def redeem(self, code: str | None) -> Redeemed | None:
        """Use the code up; None when it is malformed, unknown, expired or already used."""
        if not code or not _CODE_RE.fullmatch(code):
            return None
        now = self._clock()
        hashed = secret_hash(code)
        used = await SignInCode.filter(code_hash=hashed, used_at=None, expires_at__gt=now).update(used_at=now)
        if not used:
            return None
        row = await SignInCode.get(code_hash=hashed)
        return Redeemed(owner=row.owner, role=row.role)
