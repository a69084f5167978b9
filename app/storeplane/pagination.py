"""Keyset pagination shared by the list queries: pages, page-size limits and opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


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
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError("the cursor is not one this API returned") from exc
    if (
        not isinstance(decoded, list)
        or len(decoded) != arity + 1
        or decoded[0] != kind
        or not all(isinstance(value, str | int) for value in decoded[1:])
    ):
        raise InvalidCursorError("the cursor is not one this API returned")
    return list(decoded[1:])
