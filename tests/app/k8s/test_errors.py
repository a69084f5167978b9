"""Kubernetes errors mapped to our own tree at the boundary, and the one classifier of transient faults."""

from __future__ import annotations

import base64
import json
import uuid

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient, ApiException, CoreV1Api, V1Namespace, V1ObjectMeta, V1Secret
from multidict import CIMultiDict, CIMultiDictProxy

from storeplane.k8s.errors import (
    ClusterUnreachable,
    HelmCommandFailed,
    HelmTimeout,
    InvalidChart,
    KubeApiError,
    KubeConflict,
    KubeNotFound,
    OperationInProgress,
    WatchError,
    WatchStreamTruncated,
    describe,
    is_transient,
    kube_api_error,
    map_kube_errors,
)


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "code": code, "reason": reason, "message": message}).encode()


def _api_exception(status: int, reason: str, body: bytes) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = body
    exc.headers = CIMultiDictProxy(CIMultiDict({"Audit-Id": "a1b2", "Content-Type": "application/json"}))
    return exc


def test_an_error_response_becomes_a_kube_api_error_with_the_status_message_only() -> None:
    error = kube_api_error(404, "Not Found", _status(404, "NotFound", 'namespaces "x" not found'))
    assert isinstance(error, KubeNotFound)
    assert (error.status, error.reason, error.message) == (404, "Not Found", 'namespaces "x" not found')
    assert str(error) == 'HTTP 404 Not Found: namespaces "x" not found'
    assert type(kube_api_error(409, "Conflict", b"{}")) is KubeConflict
    assert type(kube_api_error(503, "Service Unavailable", None)) is KubeApiError
    assert str(kube_api_error(503, "Service Unavailable", None)) == "HTTP 503 Service Unavailable"


def test_a_response_that_is_not_a_status_is_cut_to_an_excerpt() -> None:
    error = kube_api_error(502, "Bad Gateway", b"<html>" + b"x" * 1000)
    assert error.message.startswith("<html>")
    assert len(error.message) == 200


def test_map_kube_errors_turns_an_api_exception_into_ours_without_its_headers_or_body() -> None:
    body = _status(409, "AlreadyExists", 'secrets "db" already exists')
    with pytest.raises(KubeConflict) as caught, map_kube_errors():
        raise _api_exception(409, "Conflict", body)
    assert str(caught.value) == 'HTTP 409 Conflict: secrets "db" already exists'
    assert "Audit-Id" not in str(caught.value)
    # Not chained: ApiException's own text would bring the response's headers and body into every traceback.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize(
    "raised",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientConnectionError("connection reset"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
    ],
)
def test_map_kube_errors_turns_connection_failures_into_cluster_unreachable(raised: Exception) -> None:
    with pytest.raises(ClusterUnreachable) as caught, map_kube_errors():
        raise raised
    assert caught.value.message.startswith("the Kubernetes API could not be reached: ")
    assert type(raised).__name__ in caught.value.message
    assert caught.value.__cause__ is raised


def test_map_kube_errors_lets_everything_else_through() -> None:
    with pytest.raises(ValueError, match="a bug"), map_kube_errors():
        raise ValueError("a bug")


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (KubeApiError(429, "Too Many Requests"), True),
        (KubeApiError(500, "Internal Server Error"), True),
        (KubeApiError(503, "Service Unavailable"), True),
        (KubeApiError(400, "Bad Request"), False),
        (KubeApiError(403, "Forbidden"), False),
        (KubeNotFound(404, "Not Found"), False),
        (KubeConflict(409, "Conflict"), False),
        (KubeApiError(0, "Cannot prepare a request message"), False),
        (ApiException(status=503, reason="Service Unavailable"), True),
        (ApiException(status=429, reason="Too Many Requests"), True),
        (ApiException(status=404, reason="Not Found"), False),
        (ApiException(status=None, reason="no status"), False),
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientPayloadError("truncated"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ClusterUnreachable("down"), True),
        (HelmTimeout("killed"), True),
        (OperationInProgress("pending-install"), True),
        (WatchStreamTruncated("12 bytes without a newline"), True),
        (InvalidChart("bad values"), False),
        (HelmCommandFailed("exit 1"), False),
        (WatchError("pods", {"code": 500, "reason": "InternalError"}), False),
        (ValueError("a bug"), False),
    ],
)
def test_is_transient_says_what_a_retry_may_cure(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_describe_gives_one_line_for_logs_and_health() -> None:
    raw = _api_exception(503, "Service Unavailable", _status(503, "ServiceUnavailable", "etcd is down"))
    assert describe(raw) == "HTTP 503 Service Unavailable: etcd is down"
    assert describe(KubeNotFound(404, "Not Found", "gone")) == "HTTP 404 Not Found: gone"
    assert describe(RuntimeError("consumer bug")) == "RuntimeError: consumer bug"
    assert describe(TimeoutError()) == "TimeoutError"


async def test_a_refused_write_of_a_secret_names_neither_its_data_nor_the_response_headers(
    api: ApiClient,
) -> None:
    core = CoreV1Api(api)
    namespace, password = f"err-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    encoded = base64.b64encode(password.encode()).decode()
    secret = V1Secret(metadata=V1ObjectMeta(name="db"), data={"password": encoded})
    await core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=namespace)))
    try:
        await core.create_namespaced_secret(namespace, secret)
        with pytest.raises(KubeConflict) as caught, map_kube_errors():
            await core.create_namespaced_secret(namespace, secret)
        text = f"{caught.value} {caught.value.message} {describe(caught.value)}"
        assert password not in text
        assert encoded not in text
        assert "HTTP response" not in text
        assert caught.value.status == 409
    finally:
        await core.delete_namespace(namespace)
