"""Writing and reading the audit log; both return AuditRecords, never rows."""

from __future__ import annotations

from storeplane.audit.models import AuditEntry
from storeplane.audit.records import AuditOutcome, AuditRecord
from storeplane.pagination import InvalidCursorError, Page, PageLimits, decode_cursor, encode_cursor

_CURSOR_KIND = "audit"


async def record_audit(
    *,
    actor: str,
    action: str,
    target: str,
    client_address: str | None,
    outcome: AuditOutcome,
    detail: str | None = None,
) -> AuditRecord:
    row = await AuditEntry.create(
        actor=actor,
        action=action,
        target=_storable(target, limit=255),
        client_address=None if client_address is None else client_address[:64],
        outcome=outcome,
        detail=None if detail is None else detail[:255],
    )
    return AuditRecord.of(row)


def _storable(text: str, *, limit: int) -> str:
    """`text` cut to `limit` characters, its unprintable ones escaped (`\\x00`, `\\ud800`).

    A target is what the client sent, a forged id included: PostgreSQL refuses NUL in text and no driver can
    encode a lone surrogate, and the entry must be written all the same.
    """
    escaped = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text[:limit]
    )
    return escaped[:limit]


async def list_audit(
    *, actor: str, first: int | None, after: str | None, limits: PageLimits
) -> Page[AuditRecord]:
    """The actor's own entries, oldest first (raises InvalidCursorError for a foreign cursor)."""
    size = limits.clamp(first)
    query = AuditEntry.filter(actor=actor)
    if after is not None:
        (last_id,) = decode_cursor(_CURSOR_KIND, after, 1)
        if not isinstance(last_id, int):
            raise InvalidCursorError()
        query = query.filter(id__gt=last_id)
    rows = await query.order_by("id").limit(size + 1)
    items = [AuditRecord.of(row) for row in rows[:size]]
    return Page(
        items=items,
        cursors=[encode_cursor(_CURSOR_KIND, [entry.id]) for entry in items],
        has_next_page=len(rows) > size,
    )
