"""What a watch follows (WatchSpec) and how it talks to the API server and backs off (WatchSettings)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from storeplane.k8s.backoff import RetryPolicy


@dataclass(frozen=True)
class WatchSettings:
    """How watches talk to the API server and how they back off when it misbehaves."""

    server_timeout_seconds: int = 300
    """timeoutSeconds asked of the server per watch; the next one resumes from the newest version."""
    read_timeout_grace: float = 30.0
    """Seconds past server_timeout_seconds a silent stream gets before its connection is presumed dead."""
    connect_timeout: float = 10.0
    """Seconds to open a connection to the API server."""
    list_timeout: float = 60.0
    """Seconds for one list page, from request to the last byte."""
    list_page_size: int = 500
    """Objects per list page (limit/continue), which bounds the size of one response."""
    backoff_initial: float = 0.5
    """Delay before the first retry after a failure (connection error, 5xx, 429, a 410 on a fresh watch)."""
    backoff_max: float = 30.0
    """Longest delay between retries, and how long a restarted watcher must run before its backoff resets."""
    backoff_factor: float = 2.0
    """Multiplier applied to the delay after each further consecutive failure."""
    backoff_jitter: float = 0.5
    """Fraction of each delay drawn at random, so that many watchers do not reconnect in lockstep."""

    @property
    def retry_policy(self) -> RetryPolicy:
        """The backoff fields as the policy that Backoff follows."""
        return RetryPolicy(
            initial=self.backoff_initial,
            max=self.backoff_max,
            factor=self.backoff_factor,
            jitter=self.backoff_jitter,
        )


@dataclass(frozen=True)
class WatchSpec:
    """What one watch follows: a resource (group, version, plural), its selectors and its scope."""

    name: str
    """Unique within a WatchSet; names the task, the log lines and the health entry."""
    kind: str
    version: str
    plural: str
    group: str = ""
    label_selector: str | None = None
    field_selector: str | None = None
    namespace: str | None = None
    """One namespace, or None for all namespaces (and for cluster-scoped kinds such as Namespace)."""
    omit_fields: tuple[str, ...] = ()
    """Fields dropped from every object before it is cached or delivered; dotted for nested ones."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def all_namespaces(self) -> bool:
        return self.namespace is None

    @property
    def path(self) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespace is not None:
            return f"{base}/namespaces/{quote(self.namespace, safe='')}/{self.plural}"
        return f"{base}/{self.plural}"
