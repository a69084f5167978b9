"""Browser sessions and one-time sign-in codes, kept in the database so that any replica can check them.

Neither table holds a secret: a session's cookie value and a sign-in code are stored as SHA-256 hashes.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Session(Model):
    id = fields.CharField(max_length=32, primary_key=True, description="Public id, for mySessions")
    secret_hash = fields.CharField(max_length=64, unique=True, description="SHA-256 of the cookie value")
    owner = fields.CharField(max_length=64)
    role = fields.CharField(max_length=16)
    signed_in_with = fields.CharField(
        max_length=128, description="'token sha256:<prefix>' or 'sign-in link': what proved the identity"
    )
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    user_agent = fields.CharField(max_length=256, null=True)
    client_address = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "session"
        indexes = (("owner", "created_at"), ("expires_at",))


class SignInCode(Model):
    code_hash = fields.CharField(max_length=64, primary_key=True, description="SHA-256 of the code")
    owner = fields.CharField(max_length=64)
    role = fields.CharField(max_length=16)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sign_in_code"
