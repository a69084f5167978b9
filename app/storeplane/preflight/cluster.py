"""The cluster check: load the kubeconfig (or the in-cluster config), then GET /version from its server."""

from __future__ import annotations

import asyncio
import os

from storeplane.preflight.wording import StartupError, one_line, os_reason, public_url
from storeplane.settings import Settings

KUBECONFIG_TIMEOUT = 30.0
"""Loading the kubeconfig may run an exec credential plugin (`aws eks get-token`, `kubelogin`): seconds."""
CLUSTER_REQUEST_TIMEOUT = 5.0
"""One GET of /version: a small, unauthenticated-readable answer from any API server."""

_UNREACHABLE_HINT = (
    "start that cluster, or point STOREPLANE_KUBECONFIG / STOREPLANE_KUBE_CONTEXT at one that runs"
)
_KUBECONFIG_HINT = (
    "point STOREPLANE_KUBECONFIG (and STOREPLANE_KUBE_CONTEXT) at a valid kubeconfig and context"
)


async def check_cluster(settings: Settings) -> None:
    """Load the kubeconfig (or the in-cluster config) and GET /version from the API server it names."""
    from storeplane.k8s.client import kube_client, server_version
    from storeplane.k8s.errors import ClusterUnreachable, KubeApiError

    source = _kube_source(settings)
    if settings.kubeconfig is not None and not settings.kubeconfig.is_file():
        raise StartupError(
            f"the kubeconfig {settings.kubeconfig} (STOREPLANE_KUBECONFIG) does not exist: {_KUBECONFIG_HINT}"
        )
    server = ""
    try:
        async with (
            asyncio.timeout(KUBECONFIG_TIMEOUT),
            kube_client(
                kubeconfig=settings.kubeconfig, context=settings.kube_context, in_cluster=settings.in_cluster
            ) as api,
        ):
            server = public_url(str(api.configuration.host))
            try:
                await server_version(api, timeout=CLUSTER_REQUEST_TIMEOUT)
            except ClusterUnreachable as exc:
                raise StartupError(
                    f"cannot reach the Kubernetes API at {server} ({_unreachable_reason(exc)}), named by "
                    f"{source}: {_UNREACHABLE_HINT}"
                ) from None
            except KubeApiError as exc:
                raise StartupError(_refusal(exc, server=server, source=source)) from None
    except StartupError:
        raise
    except TimeoutError:
        if server:
            raise StartupError(
                f"the Kubernetes API at {server}, named by {source}, took longer than "
                f"{KUBECONFIG_TIMEOUT:g} s to answer: {_UNREACHABLE_HINT}"
            ) from None
        raise StartupError(
            f"loading {source} took longer than {KUBECONFIG_TIMEOUT:g} s (an exec credential plugin that "
            f"hangs?): {_KUBECONFIG_HINT}"
        ) from None
    except OSError as exc:
        # A file the kubeconfig names (or the kubeconfig itself) cannot be read.
        name = f" {exc.filename}" if exc.filename else ""
        raise StartupError(f"cannot read{name} for {source}: {os_reason(exc)}: {_KUBECONFIG_HINT}") from None
    except Exception as exc:
        # kubernetes_asyncio's ConfigException (no file, no such context, a failed exec plugin), which
        # storeplane.k8s does not map (yet); only its text, on one line, is shown.
        if settings.in_cluster:
            raise StartupError(
                f"cannot load the in-cluster configuration (STOREPLANE_IN_CLUSTER): {one_line(exc)}: run in "
                "a pod with a service account, or unset STOREPLANE_IN_CLUSTER and set STOREPLANE_KUBECONFIG"
            ) from None
        raise StartupError(f"cannot load {source}: {one_line(exc)}: {_KUBECONFIG_HINT}") from None


def _kube_source(settings: Settings) -> str:
    """Where the cluster's address comes from, for the sentence."""
    if settings.in_cluster:
        return "the in-cluster configuration (STOREPLANE_IN_CLUSTER)"
    context = f" (context {settings.kube_context}, STOREPLANE_KUBE_CONTEXT)" if settings.kube_context else ""
    if settings.kubeconfig is not None:
        return f"STOREPLANE_KUBECONFIG={settings.kubeconfig}{context}"
    if os.environ.get("KUBECONFIG"):
        # As load_configuration does: with STOREPLANE_KUBECONFIG unset, $KUBECONFIG, then ~/.kube/config.
        return f"KUBECONFIG={os.environ['KUBECONFIG']}{context}"
    return f"~/.kube/config{context}"


def _unreachable_reason(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, TimeoutError):
        return f"no answer within {CLUSTER_REQUEST_TIMEOUT:g} s"
    # aiohttp's connection errors carry the socket's error; this module sees them only through the mapping.
    os_error = getattr(cause, "os_error", None)
    if isinstance(os_error, OSError):
        return os_reason(os_error)
    return one_line(cause if cause is not None else exc)


def _refusal(exc: Exception, *, server: str, source: str) -> str:
    status = getattr(exc, "status", 0)
    if status in (401, 403):
        return (
            f"the Kubernetes API at {server} refused the credentials of {source} ({one_line(exc)}): renew "
            "them, or choose another context with STOREPLANE_KUBE_CONTEXT"
        )
    return f"the Kubernetes API at {server}, named by {source}, answered {one_line(exc)}: {_UNREACHABLE_HINT}"
