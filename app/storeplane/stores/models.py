"""The Store row: one store, its namespace and helm release, and where provisioning stands."""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from storeplane.events.models import StoreEvent

# Store ids: "st-" and 12 characters of lowercase letters and digits (about 60 random bits). Chosen over a
# UUID because the id is also the value of the `storeplane.io/store-id` label on every Kubernetes object of
# the store: it must be a valid label value (alphanumeric at both ends, at most 63 characters) and short
# enough to read in `kubectl get -l` output. URL-safe base64 is not used: it may end in "-" or "_", which a
# label value may not.
STORE_ID_PREFIX = "st-"
_STORE_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: ids are read aloud and retyped
_STORE_ID_LENGTH = 12


def new_store_id() -> str:
    return STORE_ID_PREFIX + "".join(secrets.choice(_STORE_ID_ALPHABET) for _ in range(_STORE_ID_LENGTH))


class StoreStatus(StrEnum):
    """Provisioning state. Pending -> Provisioning -> Ready | Failed; any -> Deleting -> Deleted.

    The values are stored as-is; the partial unique indexes of migration 0002 compare against 'Deleted'.
    """

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    FAILED = "Failed"
    DELETING = "Deleting"
    DELETED = "Deleted"


class Store(Model):
    """A store. Rows are never deleted: a deleted store keeps its row (status Deleted) and its events.

    Uniqueness among live (non-Deleted) stores of `name` and `namespace` is enforced by partial unique indexes
    (migration 0002, raw SQL because Tortoise's SQLite schema editor cannot express them); the service layer
    checks first so that users get NameTaken instead of an IntegrityError.
    """

    # No ";" in any description: Tortoise's SQLite schema editor splits DDL on ";", comments included.
    id = fields.CharField(primary_key=True, max_length=32, default=new_store_id)
    name = fields.CharField(
        max_length=63, description="DNS label chosen by the owner, unique among live stores"
    )
    engine = fields.CharField(max_length=63, description="Key in charts/engines.yaml")
    status = fields.CharEnumField(StoreStatus, max_length=16, default=StoreStatus.PENDING)
    namespace = fields.CharField(
        max_length=63, description="store-<name> or a derivative, unique among live stores"
    )
    helm_release = fields.CharField(max_length=53, description="helm release name in the namespace")
    owner = fields.CharField(max_length=64, db_index=True, description="Caller who created the store")
    storefront_url = fields.CharField(max_length=2048, null=True)
    admin_url = fields.CharField(max_length=2048, null=True)
    failure_reason = fields.TextField(null=True, description="Why the store is Failed, shown to the owner")
    idempotency_key = fields.CharField(
        max_length=128, null=True, description="Client key making createStore repeatable, unique per owner"
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    ready_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True)

    events: fields.ReverseRelation[StoreEvent]

    class Meta:
        table = "store"
        ordering = ["created_at", "id"]
        # NULL keys never collide (SQLite and PostgreSQL treat NULLs as distinct in unique indexes).
        unique_together = (("owner", "idempotency_key"),)
        # (owner, created_at, id) is the order of the `stores` list: a page is a walk down this index that
        # stops after `first` rows, where the owner index alone made SQLite sort every store of the owner.
        indexes = (("status",), ("owner", "created_at", "id"))

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"
