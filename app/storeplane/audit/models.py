"""AuditEntry: one row per state-changing API call, whatever its outcome."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# Defined without the ORM (audit/records.py) so that the API can use it; re-exported for existing callers.
from storeplane.audit.records import AuditOutcome as AuditOutcome


class AuditEntry(Model):
    id = fields.BigIntField(primary_key=True)
    actor = fields.CharField(max_length=64, description="Owner resolved from the bearer token")
    action = fields.CharField(max_length=64, description="What was attempted, e.g. createStore")
    target = fields.CharField(max_length=255, description="What it was attempted on, e.g. a store id or name")
    time = fields.DatetimeField(auto_now_add=True)
    client_address = fields.CharField(max_length=64, null=True, description="Peer address of the request")
    outcome = fields.CharEnumField(AuditOutcome, max_length=16)
    detail = fields.CharField(max_length=255, null=True, description="The typed error's name, when rejected")

    class Meta:
        table = "audit_entry"
        ordering = ["id"]
        indexes = (("actor", "id"),)

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target}: {self.outcome}"
