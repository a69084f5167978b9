"""Watches: one list-then-watch loop per resource kind, its cache, and the WatchSet that supervises them.

The loop is kopf's and client-go's reflector: list, then watch from the list's resourceVersion with
bookmarks, keep the newest version seen (bookmarks included), resume from it whenever a watch ends, and list
again when the server answers 410 Expired. A relist is diffed against the cache, so consumers still get an
ADDED, MODIFIED or DELETED event for every object whose state changed while the watch was away. Changes that
came and went while disconnected collapse into the latest state, as in any level-triggered controller.

One watch per kind, never per store: the number of watches does not grow with the number of stores.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Literal, NoReturn, TypeAlias
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client import ApiClient, ApiException

log = logging.getLogger(__name__)

# Objects stay the JSON dicts the server sent. Building kubernetes_asyncio models costs about 35 times as
# much per object (measured for a running Pod: 9 us to json.loads a watch line, 300 us more for the V1Pod),
# the consumers read a handful of fields, and the cluster-wide Event watch can bring thousands per relist.
Obj: TypeAlias = dict[str, Any]
ObjectKey: TypeAlias = tuple[str, str]
"""(namespace, name); the namespace is "" for cluster-scoped kinds."""
EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Change: TypeAlias = tuple[EventType, Obj]


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


class Backoff:
    """Exponential delays with jitter: initial, times factor per failure, capped at max; reset on success."""

    def __init__(self, settings: WatchSettings, *, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._rng = rng or random.Random()
        self._failures = 0

    def next_delay(self) -> float:
        s = self._settings
        base = min(s.backoff_max, s.backoff_initial * s.backoff_factor**self._failures)
        self._failures += 1
        return base * (1.0 - s.backoff_jitter * self._rng.random())

    def reset(self) -> None:
        self._failures = 0


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


@dataclass(frozen=True)
class WatchEvent:
    """One change to one object, as a consumer receives it."""

    type: EventType
    kind: str
    object: Obj
    """The object as the server sent it; shared with the cache and other consumers, so never modify it."""
    resource_version: str
    """The object's resourceVersion; for a DELETED synthesised by a relist, the list's version."""
    from_list: bool = False
    """True when synthesised from a list (the initial one or a relist) rather than received on a watch."""

    @property
    def namespace(self) -> str:
        return str(self.object["metadata"].get("namespace") or "")

    @property
    def name(self) -> str:
        return str(self.object["metadata"]["name"])


Sink: TypeAlias = Callable[[WatchEvent], Awaitable[None]] | asyncio.Queue[WatchEvent]
"""Where a watcher delivers events: an async callback, or a queue (a bounded one applies backpressure)."""


@dataclass(frozen=True)
class WatcherHealth:
    """A snapshot of one watcher's state, for /readyz and for people."""

    synced: bool
    """The initial list has been delivered, so the cache reflects the cluster."""
    connected: bool
    """A watch stream is open right now."""
    resource_version: str | None
    consecutive_failures: int
    """Failed attempts since the last success; 0 while the watch is healthy."""
    last_error: str | None
    """The most recent failure or crash, kept after recovery for diagnosis."""
    last_error_at: float | None
    """When last_error happened (time.time())."""
    expired: int
    """Watch resumes answered 410 Expired."""
    relists: int
    """Lists after the initial one (after a 410 or a restart)."""
    restarts: int
    """Times the supervisor restarted the watcher after it crashed."""

    @property
    def healthy(self) -> bool:
        return self.synced and self.consecutive_failures == 0


class WatchError(Exception):
    """The server sent an ERROR event other than 410 Expired: a fault the loop cannot handle itself."""

    def __init__(self, watch: str, status: Obj) -> None:
        self.status = status
        code, reason, message = status.get("code"), status.get("reason"), status.get("message")
        super().__init__(f"watch {watch}: ERROR {code} {reason}: {message}")


class _TruncatedStream(Exception):
    """The connection ended in the middle of a watch line."""


def object_key(obj: Obj) -> ObjectKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def _uid(obj: Obj) -> str | None:
    uid = obj["metadata"].get("uid")
    return None if uid is None else str(uid)


def _version(obj: Obj) -> str:
    return str(obj["metadata"].get("resourceVersion", ""))


def transition(old: Obj | None, new: Obj, *, deleted: bool) -> list[Change]:
    """The events that take a cache entry from `old` to the server's `new` state.

    Normally the server's own event type. The exceptions keep the stream consistent for consumers: a change
    already seen (same uid and resourceVersion, e.g. listed then replayed by the watch) yields nothing; an
    object replaced under the same name while disconnected yields DELETED for the old one then ADDED; a
    DELETED for an object never delivered (or an older incarnation of it) yields nothing.
    """
    if deleted:
        return [] if old is None or _uid(old) != _uid(new) else [("DELETED", new)]
    if old is None:
        return [("ADDED", new)]
    if _uid(old) != _uid(new):
        return [("DELETED", old), ("ADDED", new)]
    if _version(old) == _version(new):
        return []
    return [("MODIFIED", new)]


def diff_listing(cache: Mapping[ObjectKey, Obj], listed: Iterable[Obj]) -> list[Change]:
    """What a relist reveals against the cache: gone -> DELETED, new -> ADDED, changed version -> MODIFIED.

    Deletions come first (with the last state seen), then the rest in resourceVersion order, which is commit
    order on every real server. Versions are opaque strings; ordering by (length, text) matches numeric order
    for etcd's decimal revisions and only decides the delivery order, never what is delivered.
    """
    fresh = {object_key(obj): obj for obj in listed}
    gone: list[Change] = [("DELETED", old) for key, old in cache.items() if key not in fresh]
    changes = [
        change for key, new in fresh.items() for change in transition(cache.get(key), new, deleted=False)
    ]
    changes.sort(key=lambda change: (len(_version(change[1])), _version(change[1])))
    return gone + changes


def _is_transient(exc: Exception) -> bool:
    """Failures a watcher rides out with backoff; anything else is a bug or a misconfiguration."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        return status == 429 or status >= 500
    return isinstance(exc, aiohttp.ClientError | TimeoutError | ConnectionError | _TruncatedStream)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        body = exc.body or b"{}"
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            message = (body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body))[:200]
        return f"HTTP {exc.status} {exc.reason}: {message}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def _api_error(response: aiohttp.ClientResponse, body: bytes) -> ApiException:
    error = ApiException(status=response.status, reason=response.reason)
    error.body = body
    error.headers = response.headers
    return error


class Watcher:
    """List-then-watch for one WatchSpec; keeps a cache and delivers WatchEvents to its sink."""

    def __init__(
        self,
        api: ApiClient,
        spec: WatchSpec,
        *,
        settings: WatchSettings | None = None,
        sink: Sink | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings or WatchSettings()
        self._api = api
        self._sink = sink
        self._cache: dict[ObjectKey, Obj] = {}
        self._resource_version: str | None = None
        self._synced = asyncio.Event()
        self._backoff = Backoff(self.settings)
        self._connected = False
        self._failures = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._expired = 0
        self._relists = 0
        self._restarts = 0

    # -- reading -----------------------------------------------------------------------------------

    @property
    def cache(self) -> Mapping[ObjectKey, Obj]:
        """The objects as last seen, by (namespace, name); read-only, and the objects must not be modified."""
        return MappingProxyType(self._cache)

    def get(self, name: str, *, namespace: str = "") -> Obj | None:
        return self._cache.get((namespace, name))

    def objects(self, *, namespace: str | None = None) -> list[Obj]:
        """Cached objects, of one namespace or of all."""
        if namespace is None:
            return list(self._cache.values())
        return [obj for (ns, _), obj in self._cache.items() if ns == namespace]

    @property
    def resource_version(self) -> str | None:
        return self._resource_version

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def health(self) -> WatcherHealth:
        return WatcherHealth(
            synced=self.synced,
            connected=self._connected,
            resource_version=self._resource_version,
            consecutive_failures=self._failures,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            expired=self._expired,
            relists=self._relists,
            restarts=self._restarts,
        )

    def record_crash(self, exc: BaseException) -> None:
        """Called by the supervisor when run() raised: the watcher will be restarted."""
        self._restarts += 1
        self._connected = False
        self._note_failure(exc)

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self) -> NoReturn:
        """List, then watch, forever. Transient faults are retried with backoff here; anything else raises.

        Each run starts with a list, diffed against the cache, so a restart after a crash loses nothing.
        """
        must_list = True
        while True:
            try:
                if must_list:
                    await self._list()
                    must_list = False
                expired, useful = await self._watch()
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                self._note_failure(exc)
                delay = self._backoff.next_delay()
                log.warning("watch %s failed (%s); retrying in %.2fs", self.spec.name, _describe(exc), delay)
                await asyncio.sleep(delay)
                continue
            must_list = expired
            if not useful:
                # The stream ended or expired before delivering anything: retrying at once could spin
                # against a server that keeps closing watches, so this counts as a failed attempt.
                await asyncio.sleep(self._backoff.next_delay())

    def _note_failure(self, exc: BaseException) -> None:
        self._failures += 1
        self._last_error = _describe(exc)
        self._last_error_at = time.time()

    async def _list(self) -> None:
        items, version = await self._list_all()
        for kind, obj in diff_listing(self._cache, items):
            # Only a synthesised deletion has no version of its own to report: the list's stands for it.
            event_version = version if kind == "DELETED" else _version(obj)
            await self._emit(kind, obj, resource_version=event_version, from_list=True)
        self._resource_version = version
        if self._synced.is_set():
            self._relists += 1
        self._synced.set()
        log.info("watch %s listed %d objects at version %s", self.spec.name, len(items), version)

    async def _list_all(self) -> tuple[list[Obj], str]:
        """Every matching object, page by page, and the version to watch from (that of the first page)."""
        items: list[Obj] = []
        version: str | None = None
        token: str | None = None
        restarted = False
        while True:
            query = [*self._selectors(), ("limit", str(self.settings.list_page_size))]
            if token is not None:
                query.append(("continue", token))
            try:
                page = await self._get_json(query)
            except ApiException as exc:
                if exc.status == 410 and token is not None and not restarted:
                    # The continue token outlived the snapshot it pages (compacted): list from the start.
                    items, version, token, restarted = [], None, None, True
                    continue
                raise
            meta = page.get("metadata") or {}
            if version is None:
                version = str(meta["resourceVersion"])
            for item in page.get("items") or []:
                # The real server omits kind and apiVersion on list items; watch events carry them.
                item.setdefault("kind", self.spec.kind)
                item.setdefault("apiVersion", self.spec.api_version)
                items.append(self._slim(item))
            token = meta.get("continue") or None
            if token is None:
                return items, version

    async def _watch(self) -> tuple[bool, bool]:
        """One watch request from the newest version: (expired, delivered anything)."""
        assert self._resource_version is not None
        query = [
            *self._selectors(),
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.settings.server_timeout_seconds)),
            ("resourceVersion", self._resource_version),
        ]
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.settings.connect_timeout,
            sock_read=self.settings.server_timeout_seconds + self.settings.read_timeout_grace,
        )
        useful = False
        response = await self._request(query, timeout)
        try:
            if response.status == 410:
                # Some servers and proxies answer an expired version with the HTTP status, not an event.
                self._expired += 1
                return True, False
            if response.status != 200:
                raise _api_error(response, await response.read())
            self._connected = True
            self._failures = 0
            async for line in response.content:
                if not line.endswith(b"\n"):
                    raise _TruncatedStream(f"{len(line)} bytes without a newline")
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        self._expired += 1
                        log.info(
                            "watch %s expired at %s; listing again", self.spec.name, self._resource_version
                        )
                        return True, useful
                    raise WatchError(self.spec.name, obj)
                useful = True
                self._backoff.reset()
                if kind == "BOOKMARK":
                    # Only a version: resuming from it skips what the selector filtered out since.
                    self._resource_version = _version(obj)
                elif kind in ("ADDED", "MODIFIED", "DELETED"):
                    await self._receive(self._slim(obj), deleted=kind == "DELETED")
                else:
                    raise WatchError(self.spec.name, {"reason": "UnknownEventType", "message": repr(kind)})
            return False, useful
        finally:
            self._connected = False
            # close(), not release(): an unfinished stream must not go back to the pool, and closing tells
            # the server at once that the watch is gone.
            response.close()

    def _slim(self, obj: Obj) -> Obj:
        # managedFields is often the largest part of an object on a real server and no consumer reads it.
        obj.get("metadata", {}).pop("managedFields", None)
        for path in self.spec.omit_fields:
            *parents, last = path.split(".")
            target: Any = obj
            for part in parents:
                target = target.get(part) if isinstance(target, dict) else None
            if isinstance(target, dict):
                target.pop(last, None)
        return obj

    async def _receive(self, obj: Obj, *, deleted: bool) -> None:
        old = self._cache.get(object_key(obj))
        self._resource_version = _version(obj)
        for kind, changed in transition(old, obj, deleted=deleted):
            await self._emit(kind, changed, resource_version=_version(obj), from_list=False)

    async def _emit(self, kind: EventType, obj: Obj, *, resource_version: str, from_list: bool) -> None:
        # The cache changes before delivery so that a consumer looking at other objects of the store sees
        # the state that includes this change.
        if kind == "DELETED":
            self._cache.pop(object_key(obj), None)
        else:
            self._cache[object_key(obj)] = obj
        sink = self._sink
        if sink is None:
            return
        event = WatchEvent(kind, self.spec.kind, obj, resource_version, from_list)
        if isinstance(sink, asyncio.Queue):
            await sink.put(event)
        else:
            await sink(event)

    # -- HTTP --------------------------------------------------------------------------------------

    def _selectors(self) -> list[tuple[str, str]]:
        query = []
        if self.spec.label_selector:
            query.append(("labelSelector", self.spec.label_selector))
        if self.spec.field_selector:
            query.append(("fieldSelector", self.spec.field_selector))
        return query

    async def _request(self, query: list[tuple[str, str]], timeout: aiohttp.ClientTimeout) -> Any:
        # The raw aiohttp response (_preload_content=False) through the ApiClient, which adds the server
        # address, credentials (refreshing exec-plugin tokens) and TLS. The generated list_* methods would
        # only add per-kind dispatch and model decoding, which this path avoids on purpose.
        return await self._api.call_api(
            self.spec.path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=timeout,
        )

    async def _get_json(self, query: list[tuple[str, str]]) -> Obj:
        timeout = aiohttp.ClientTimeout(
            total=self.settings.list_timeout, sock_connect=self.settings.connect_timeout
        )
        response: aiohttp.ClientResponse = await self._request(query, timeout)
        try:
            body = await response.read()
            if response.status != 200:
                raise _api_error(response, body)
        finally:
            response.release()
        page: Obj = json.loads(body)
        return page


class WatchSet:
    """Owns one Watcher per spec as named, guarded tasks; a crashed watcher is logged and restarted.

    Use as `async with WatchSet(api, STOREPLANE_WATCHES, sink=...) as watches:`; stop() cancels every task
    and awaits it. The ApiClient stays the caller's to close.
    """

    def __init__(
        self,
        api: ApiClient,
        specs: Iterable[WatchSpec],
        *,
        settings: WatchSettings | None = None,
        sink: Sink | None = None,
    ) -> None:
        self.settings = settings or WatchSettings()
        self._watchers: dict[str, Watcher] = {}
        for spec in specs:
            if spec.name in self._watchers:
                raise ValueError(f"two watches named {spec.name!r}")
            self._watchers[spec.name] = Watcher(api, spec, settings=self.settings, sink=sink)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def watchers(self) -> Mapping[str, Watcher]:
        return MappingProxyType(self._watchers)

    def __getitem__(self, name: str) -> Watcher:
        return self._watchers[name]

    @property
    def tasks(self) -> tuple[asyncio.Task[None], ...]:
        return tuple(self._tasks.values())

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("WatchSet already started")
        for name, watcher in self._watchers.items():
            self._tasks[name] = asyncio.create_task(self._guard(watcher), name=f"watch:{name}")

    async def stop(self) -> None:
        """Cancel every watcher, then await them all; safe to call twice."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> WatchSet:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_synced(self) -> None:
        """Until every watcher has delivered its initial list (wrap it in a timeout)."""
        await asyncio.gather(*(watcher.wait_synced() for watcher in self._watchers.values()))

    @property
    def synced(self) -> bool:
        return all(watcher.synced for watcher in self._watchers.values())

    @property
    def healthy(self) -> bool:
        return all(watcher.health().healthy for watcher in self._watchers.values())

    def health(self) -> dict[str, WatcherHealth]:
        return {name: watcher.health() for name, watcher in self._watchers.items()}

    async def _guard(self, watcher: Watcher) -> None:
        backoff = Backoff(self.settings)
        while True:
            started = time.monotonic()
            try:
                await watcher.run()
            except Exception as exc:
                watcher.record_crash(exc)
                if time.monotonic() - started > self.settings.backoff_max:
                    backoff.reset()  # it ran well for a while: this is a new failure, not a crash loop
                delay = backoff.next_delay()
                log.exception("watch %s crashed; restarting in %.2fs", watcher.spec.name, delay)
                await asyncio.sleep(delay)
