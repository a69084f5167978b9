"""A test double for the provisioner (another component's Protocol): records calls, provisions nothing."""

from __future__ import annotations

from storeplane.provisioning.protocol import Provisioner


class RecordingProvisioner:
    """Implements `Provisioner`; set `fail_with` to make the next call raise (a bug in provisioning)."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.delete_requests: list[str] = []
        self.fail_with: Exception | None = None

    async def submit(self, store_id: str) -> None:
        self._maybe_fail()
        self.submitted.append(store_id)

    async def request_delete(self, store_id: str) -> None:
        self._maybe_fail()
        self.delete_requests.append(store_id)

    def busy(self, store_id: str) -> bool:
        return False  # it keeps no tasks: every request is only recorded

    def _maybe_fail(self) -> None:
        error, self.fail_with = self.fail_with, None
        if error is not None:
            raise error


def _conforms(provisioner: RecordingProvisioner) -> Provisioner:
    return provisioner  # mypy checks that the double matches the Protocol
