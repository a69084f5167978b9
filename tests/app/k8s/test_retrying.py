"""retrying: transient failures are ridden out with backoff, anything else is raised at once."""

from __future__ import annotations

import logging

import pytest

from storeplane.k8s.backoff import RetryPolicy
from storeplane.k8s.errors import ClusterUnreachable, KubeApiError, KubeNotFound, OperationInProgress
from storeplane.k8s.retrying import retrying

QUICK = RetryPolicy(initial=0.001, max=0.004, factor=2.0, jitter=0.0)


class Flaky:
    """An operation that raises each of `failures` in turn, then returns "done"."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


async def test_retrying_rides_out_transient_failures_and_logs_each(caplog: pytest.LogCaptureFixture) -> None:
    operation = Flaky(
        KubeApiError(503, "Service Unavailable", "etcd is down"),
        ClusterUnreachable("the Kubernetes API could not be reached: ServerDisconnectedError"),
        OperationInProgress("release web is pending-install"),
    )
    with caplog.at_level(logging.WARNING, logger="storeplane.k8s.retrying"):
        assert await retrying(operation, what="creating the namespace", policy=QUICK) == "done"
    assert operation.calls == 4
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 3
    assert warnings[0].startswith(
        "creating the namespace failed (HTTP 503 Service Unavailable: etcd is down); retrying in"
    )


async def test_retrying_raises_a_lasting_failure_at_once() -> None:
    operation = Flaky(KubeApiError(503, "Service Unavailable"), KubeNotFound(404, "Not Found", "gone"))
    with pytest.raises(KubeNotFound):
        await retrying(operation, what="reading the namespace", policy=QUICK)
    assert operation.calls == 2


async def test_retrying_raises_a_bug_unchanged() -> None:
    operation = Flaky(RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        await retrying(operation, what="anything", policy=QUICK)
    assert operation.calls == 1
