"""Expected provisioning failures: each fails the store with a reason shown to its owner."""

from __future__ import annotations


class ProvisioningFailed(Exception):
    """The store cannot be provisioned as things stand; `reason` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
