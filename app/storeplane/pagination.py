"""Keyset pagination shared by the list queries: pages, page-size limits and opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# Cursors come from clients and are checked before anything reads them: a forged one is InvalidCursorError
# (BAD_CURSOR), never an exception from the decoder or the database (an INTERNAL error and a traceback).
# The cursors this API hands out are well under this length; the bound keeps the decoders' work small.
MAX_CURSOR_LENGTH = 256
# Every integer in a cursor is a row id: BIGINT on PostgreSQL, INTEGER (signed 64 bits) on SQLite, where a
# larger Python int makes the driver raise OverflowError.
MAX_ROW_ID = 2**63 - 1


@dataclass(frozen=True)
class PageLimits:
    """Page sizes for every list (from settings graphql_default_page_size and graphql_max_page_size)."""

    default: int = 20
    maximum: int = 100

    def clamp(self, first: int | None) -> int:
        """`first` limited to 1..maximum; None means the default."""
        if first is None:
            return self.default
        return max(1, min(first, self.maximum))


class InvalidCursorError(ValueError):
    """A cursor that this server did not hand out (or for another list)."""

    def __init__(self, message: str = "the cursor is not one this API returned") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


def encode_cursor(kind: str, values: Sequence[str | int]) -> str:
    """An opaque cursor: clients pass it back unchanged and must not parse it."""
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, arity: int) -> list[str | int]:
    """The values of a cursor of `kind`: `arity` strings (printable ASCII) or row ids (0..MAX_ROW_ID).

    Raises InvalidCursorError for anything else; the caller still checks which value has which type.
    """
    if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise InvalidCursorError()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)  # UnicodeDecodeError, and too many digits for int(), are ValueErrors
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError() from exc
    if (
        not isinstance(decoded, list)
        or len(decoded) != arity + 1
        or decoded[0] != kind
        or not all(_valid_value(value) for value in decoded[1:])
    ):
        raise InvalidCursorError()
    return list(decoded[1:])


def _valid_value(value: object) -> bool:
    if isinstance(value, bool):  # an int to isinstance(), never in a cursor of ours
        return False
    if isinstance(value, int):
        return 0 <= value <= MAX_ROW_ID
    # Printable ASCII: no NUL (which PostgreSQL refuses in text) and no lone surrogate (which no driver can
    # encode), both of which JSON escapes can carry.
    return isinstance(value, str) and value.isascii() and value.isprintable()


def decode_row_id(cursor: str) -> int:
    """A cursor that is a row id in decimal, as `storeEvents` hands out (its event ids).

    Only ASCII digits: `str.isdigit()` also accepts "²" and other digits that `int()` refuses or reads.
    """
    if not (1 <= len(cursor) <= len(str(MAX_ROW_ID)) and cursor.isascii() and cursor.isdigit()):
        raise InvalidCursorError()
    value = int(cursor)
    if value > MAX_ROW_ID:
        raise InvalidCursorError()
    return value
