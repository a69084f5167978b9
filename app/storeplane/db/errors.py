"""Which database failures pass: a lock held by another writer, a busy server, a lost connection."""

from __future__ import annotations

from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError


def is_transient(exc: BaseException) -> bool:
    """True for a failure that the same statement may not meet again; a broken rule (IntegrityError) never."""
    if isinstance(exc, IntegrityError):
        return False
    return isinstance(exc, OperationalError | DBConnectionError | ConnectionError | TimeoutError)
