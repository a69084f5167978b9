from __future__ import annotations

from datetime import datetime

import strawberry

from storeplane.audit.records import AuditRecord
from storeplane.graphql.types.enums import AuditOutcome, mirror


@strawberry.type(description="One state-changing call: who, what, on which target, from where, how it ended.")
class AuditEntry:
    id: strawberry.ID
    actor: str
    action: str
    target: str
    time: datetime
    client_address: str | None
    outcome: AuditOutcome
    detail: str | None = strawberry.field(description="The typed error's name, when rejected.")

    @classmethod
    def from_record(cls, entry: AuditRecord) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(entry.id)),
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            time=entry.time,
            client_address=entry.client_address,
            outcome=mirror(entry.outcome, AuditOutcome),
            detail=entry.detail,
        )
