"""The exception tree of `storeplane.k8s`, drawn once, and the one classifier of transient faults.

Helm failures are classified from helm's stderr by `storeplane.k8s.helm.classify`; the message of every error
carries a redacted excerpt of stderr only (never stdout, which may hold rendered Secrets, and never the
contents of a values file).

Kubernetes API failures are mapped at this boundary, as httpx maps httpcore's: `map_kube_errors` turns
kubernetes_asyncio's ApiException into a `KubeApiError` and aiohttp's (and the socket's) errors into
`ClusterUnreachable`, so nothing above `storeplane.k8s` sees either library. A mapped message carries the
status and the server's one-line Status message only: never the request, its body or its headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiException

# A response that is not a Kubernetes Status (a proxy's HTML page, say) is cut to this many characters.
RAW_BODY_EXCERPT = 200


class HelmError(Exception):
    """A helm call failed. Subclasses say why; catch this for any helm failure."""

    def __init__(
        self,
        message: str,
        *,
        command: str = "",
        release: str | None = None,
        namespace: str | None = None,
        exit_code: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The helm subcommand ("install", "status", ...), empty when helm never ran.
        self.command = command
        self.release = release
        self.namespace = namespace
        #: helm's exit status; None when helm never ran or we killed it.
        self.exit_code = exit_code
        #: A redacted excerpt of helm's stderr (log lines dropped, values and secret-looking text masked).
        self.stderr = stderr


class HelmBinaryNotFound(HelmError):
    """No helm executable at the configured path, in `.tools/bin` or on PATH."""


class InvalidName(HelmError, ValueError):
    """A release name or namespace is not a DNS-1123 label; raised before helm is started."""


class ReleaseExists(HelmError):
    """Install of a name that is still in use (any state, pending-install included)."""


class ReleaseNotFound(HelmError):
    """The release does not exist in the namespace."""


class HelmTimeout(HelmError):
    """Our deadline killed helm (exit_code None), or helm's own `--timeout` expired."""


class ClusterUnreachable(HelmError):
    """The Kubernetes API could not be reached or answered 5xx."""


class InvalidChart(HelmError):
    """The chart is missing or broken, the values fail its schema, or a template failed to render."""


class OperationInProgress(HelmError):
    """The release is pending-install/-upgrade/-rollback: another helm holds it, or one died mid-way."""


class HelmCommandFailed(HelmError):
    """Any other helm failure; see `exit_code` and `stderr`."""


class KubeApiError(Exception):
    """The Kubernetes API answered with an error status (0: the client refused to send the request)."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        head = " ".join(part for part in ("HTTP", str(status), reason) if part)
        super().__init__(f"{head}: {message}" if message else head)
        self.status = status
        #: The HTTP reason phrase ("Not Found").
        self.reason = reason
        #: The server's Status message, or an excerpt of a response that was not a Status.
        self.message = message


class KubeNotFound(KubeApiError):
    """404: the object (or its namespace) does not exist."""


class KubeConflict(KubeApiError):
    """409: the object already exists, or a write lost a race on its resourceVersion."""


class WatchError(Exception):
    """The server sent an ERROR event other than 410 Expired: a fault the watch loop cannot handle itself."""

    def __init__(self, watch: str, status: Mapping[str, Any]) -> None:
        self.status = status
        code, reason, message = status.get("code"), status.get("reason"), status.get("message")
        super().__init__(f"watch {watch}: ERROR {code} {reason}: {message}")


class WatchStreamTruncated(Exception):
    """The connection ended in the middle of a watch line."""


_BY_STATUS: dict[int, type[KubeApiError]] = {404: KubeNotFound, 409: KubeConflict}


def kube_api_error(status: int, reason: str, body: bytes | str | None) -> KubeApiError:
    """Our error for an error response: the Status message from its body, never the body itself."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body or ""
    try:
        message = str(json.loads(raw or "{}").get("message", ""))
    except (ValueError, AttributeError):
        message = raw[:RAW_BODY_EXCERPT]
    return _BY_STATUS.get(status, KubeApiError)(status, reason, message)


def _from_api_exception(exc: ApiException) -> KubeApiError:
    return kube_api_error(exc.status or 0, exc.reason or "", exc.body)


@contextmanager
def map_kube_errors() -> Iterator[None]:
    """Inside, kubernetes_asyncio's and aiohttp's errors become ours: KubeApiError or ClusterUnreachable."""
    try:
        yield
    except ApiException as exc:
        # Not chained: ApiException's own text holds the response's headers and body.
        raise _from_api_exception(exc) from None
    except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
        raise ClusterUnreachable(f"the Kubernetes API could not be reached: {describe(exc)}") from exc


def is_transient(exc: BaseException) -> bool:
    """Whether retrying may help: the API overloaded or down, a dropped connection, a helm call killed by our
    deadline or a release held mid-operation. Anything else is a bug, a misconfiguration or a refusal."""
    if isinstance(exc, ApiException):
        exc = _from_api_exception(exc)
    if isinstance(exc, KubeApiError):
        return exc.status == 429 or exc.status >= 500
    return isinstance(
        exc,
        ClusterUnreachable
        | HelmTimeout
        | OperationInProgress
        | WatchStreamTruncated
        | aiohttp.ClientError
        | ConnectionError
        | TimeoutError,
    )


def describe(exc: BaseException) -> str:
    """One line for a log or a health report: the type's name and the message (an API error's own text)."""
    if isinstance(exc, ApiException):
        exc = _from_api_exception(exc)
    if isinstance(exc, KubeApiError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
