from __future__ import annotations

from datetime import datetime

import strawberry

from storeplane.auth.sessions import SessionRecord


@strawberry.type(description="A browser signed in to the dashboard as the caller's owner.")
class Session:
    id: strawberry.ID
    role: str
    signed_in_with: str = strawberry.field(
        description="'sign-in link', or 'token sha256:<prefix>' (a prefix of the token's hash)."
    )
    created_at: datetime
    last_seen_at: datetime = strawberry.field(description="Updated at most once a minute.")
    expires_at: datetime
    user_agent: str | None
    client_address: str | None = strawberry.field(description="Where it was signed in from.")
    current: bool = strawberry.field(description="The session making this request.")

    @classmethod
    def from_record(cls, record: SessionRecord, *, current_id: str | None) -> Session:
        return cls(
            id=strawberry.ID(record.id),
            role=record.role,
            signed_in_with=record.signed_in_with,
            created_at=record.created_at,
            last_seen_at=record.last_seen_at,
            expires_at=record.expires_at,
            user_agent=record.user_agent,
            client_address=record.client_address,
            current=record.id == current_id,
        )
