"""The Watcher: one list-then-watch loop per resource kind, its cache, and what it delivers and reports.

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
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn, TypeAlias

import aiohttp

from storeplane.k8s.backoff import Backoff
from storeplane.k8s.client import KubeApi
from storeplane.k8s.errors import (
    KubeApiError,
    WatchError,
    WatchStreamTruncated,
    describe,
    is_transient,
    kube_api_error,
)
from storeplane.k8s.objects import (
    Obj,
    ObjectKey,
    WatchEventType,
    cache_changes,
    diff_listing,
    object_key,
    object_version,
)
from storeplane.k8s.watchspec import WatchSettings, WatchSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchEvent:
    """One change to one object, as a consumer receives it."""

    type: WatchEventType
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


def _api_error(response: aiohttp.ClientResponse, body: bytes) -> KubeApiError:
    return kube_api_error(response.status, response.reason or "", body)


class Watcher:
    """List-then-watch for one WatchSpec; keeps a cache and delivers WatchEvents to its sink."""

    def __init__(
        self,
        api: KubeApi,
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
        self._backoff = Backoff(self.settings.retry_policy)
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
        """Called by the WatchSet when run() raised: the watcher will be restarted."""
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
                if not is_transient(exc):
                    raise
                self._note_failure(exc)
                delay = self._backoff.next_delay()
                log.warning("watch %s failed (%s); retrying in %.2fs", self.spec.name, describe(exc), delay)
                await asyncio.sleep(delay)
                continue
            must_list = expired
            if not useful:
                # The stream ended or expired before delivering anything: retrying at once could spin
                # against a server that keeps closing watches, so this counts as a failed attempt.
                await asyncio.sleep(self._backoff.next_delay())

    def _note_failure(self, exc: BaseException) -> None:
        self._failures += 1
        self._last_error = describe(exc)
        self._last_error_at = time.time()

    async def _list(self) -> None:
        items, version = await self._list_all()
        for kind, obj in diff_listing(self._cache, items):
            # Only a synthesised deletion has no version of its own to report: the list's stands for it.
            event_version = version if kind == "DELETED" else object_version(obj)
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
            except KubeApiError as exc:
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
                    raise WatchStreamTruncated(f"{len(line)} bytes without a newline")
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
                    self._resource_version = object_version(obj)
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
        self._resource_version = object_version(obj)
        for kind, changed in cache_changes(old, obj, deleted=deleted):
            await self._emit(kind, changed, resource_version=object_version(obj), from_list=False)

    async def _emit(self, kind: WatchEventType, obj: Obj, *, resource_version: str, from_list: bool) -> None:
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
