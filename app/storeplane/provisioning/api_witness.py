"""Whether a helm failure was the API server's: asked of the API itself, not read from helm's wording.

A real API server fails in many wordings (503 "the server is currently unable to handle the request", 500
"etcdserver: request timed out", 429, refused connections while it restarts) and helm passes them on inside
its own messages, or as a template error when the chart's `lookup` could not read the cluster. Matching text
misses some; so when helm fails with an error that is not clearly the chart's or ours, two witnesses are
asked: the watches (did any of them fail since the helm call started?) and the API now (`GET /version`,
bounded in time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from storeplane.k8s.client import KubeApi, server_version
from storeplane.k8s.errors import ClusterUnreachable, HelmCommandFailed, HelmError, InvalidChart
from storeplane.k8s.watcher import WatcherHealth

# How long the API may take to answer `GET /version` before it counts as failing.
PROBE_TIMEOUT_SECONDS = 5.0


def may_be_the_apis(exc: HelmError) -> bool:
    """A failure the API server may have caused: unrecognised, or the chart's `lookup` of a live object."""
    if isinstance(exc, HelmCommandFailed):
        return True
    return isinstance(exc, InvalidChart) and "error calling lookup" in exc.stderr


class ApiWitness:
    def __init__(
        self,
        api: KubeApi,
        watch_health: Callable[[], Mapping[str, WatcherHealth]],
        *,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        self._api = api
        self._watch_health = watch_health
        self._probe_timeout = probe_timeout

    async def failing_since(self, started: float) -> str | None:
        """Why the API counts as failing now or since `started` (time.time()); None when it looks well."""
        for name, health in self._watch_health().items():
            if health.last_error_at is not None and health.last_error_at >= started:
                return f"the {name} watch failed meanwhile ({health.last_error})"
        try:
            await server_version(self._api, timeout=self._probe_timeout)
        except Exception as exc:
            return f"GET /version failed ({type(exc).__name__})"
        return None

    async def judge(self, exc: HelmError, *, started: float) -> HelmError:
        """`exc`, or a transient ClusterUnreachable when the API was failing around the call."""
        if not may_be_the_apis(exc):
            return exc
        why = await self.failing_since(started)
        if why is None:
            return exc
        return ClusterUnreachable(
            f"{exc.message} (the API server was failing: {why})",
            command=exc.command,
            release=exc.release,
            namespace=exc.namespace,
            exit_code=exc.exit_code,
            stderr=exc.stderr,
        )
