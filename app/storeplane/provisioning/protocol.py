"""What the store service needs from provisioning: two calls that hand work over and return at once."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class Provisioner(Protocol):
    """Accepts work for a store whose row already records the request.

    The service persists the transition (Pending for `submit`, Deleting for `request_delete`) and its event
    before calling, so an implementation may lose a call (crash, restart) without losing the request: the
    reconciler finds the store in that status and resumes it. Both calls must return quickly (queue, don't
    run) and be idempotent: a repeat for a store already queued or running is a no-op.
    """

    async def submit(self, store_id: str) -> None:
        """Provision the store (status Pending): namespace, helm install, then readiness from the watches."""

    async def request_delete(self, store_id: str) -> None:
        """Delete the store (status Deleting): cancel a running install, uninstall, delete the namespace."""

    def busy(self, store_id: str) -> bool:
        """Whether the store is queued or has a task now (the reconciler's sweep resumes the others)."""


class NoProvisioner:
    """Used when the app is built without a provisioner: requests stay recorded in the database only.

    Stores stay Pending (or Deleting) until a process with a provisioner starts and its reconciler resumes
    them; a warning at start-up says so.
    """

    async def submit(self, store_id: str) -> None:
        log.warning("no provisioner is running: store %s stays Pending", store_id)

    async def request_delete(self, store_id: str) -> None:
        log.warning("no provisioner is running: store %s stays Deleting", store_id)

    def busy(self, store_id: str) -> bool:
        return False
