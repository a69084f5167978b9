"""AuditRecord: an audit entry as the API sees it, a frozen copy of its row; and how a call ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storeplane.audit.models import AuditEntry


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    REJECTED = "rejected"  # an expected failure returned as a typed error (NameTaken, QuotaExceeded, ...)
    ERROR = "error"  # an unexpected failure (a bug or an infrastructure fault)


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditRecord:
    id: int
    actor: str
    action: str
    target: str
    time: datetime
    client_address: str | None
    outcome: AuditOutcome
    detail: str | None

    @classmethod
    def of(cls, row: AuditEntry) -> AuditRecord:
        return cls(
            id=row.id,
            actor=row.actor,
            action=row.action,
            target=row.target,
            time=row.time,
            client_address=row.client_address,
            outcome=AuditOutcome(row.outcome),
            detail=row.detail,
        )
