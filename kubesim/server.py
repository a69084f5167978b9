"""The HTTP API: routes Kubernetes REST paths onto the object store, and streams watches."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from kubesim import (
    aggregated_discovery,
    discovery,
    errors,
    list_options,
    patching,
    protobuf,
    resources,
    tables,
)
from kubesim.errors import ApiError
from kubesim.faults import Faults
from kubesim.metrics import Metrics
from kubesim.object_store import CLOSED, Obj, ObjectStore, Watch, watch_line
from kubesim.resources import ResourceType
from kubesim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    label_selector_from_object,
    parse_field_selector,
    parse_label_selector,
)
from kubesim.settings import Settings

APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    APPLY,
)
PROTOBUF = "application/vnd.kubernetes.protobuf"
# Field selectors the real server accepts per kind, beyond metadata.name and metadata.namespace.
_EXTRA_FIELDS: dict[str, set[str]] = {
    "Event": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
        "regarding.kind",
        "regarding.name",
        "regarding.namespace",
        "regarding.uid",
    },
    "Pod": {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "Secret": {"type"},
    "Namespace": {"status.phase"},
    "Job": {"status.successful"},
    "Node": {"spec.unschedulable"},
    "ReplicaSet": {"status.replicas"},
}


@dataclass(frozen=True)
class Route:
    """A parsed Kubernetes REST path."""

    rt: ResourceType
    namespace: str | None  # None: all namespaces (or cluster-scoped)
    name: str | None
    subresource: str
    legacy_watch: bool


class ApiServer:
    """The aiohttp application serving the Kubernetes API over the object store."""

    def __init__(
        self, object_store: ObjectStore, faults: Faults, metrics: Metrics, settings: Settings
    ) -> None:
        self.object_store = object_store
        self.faults = faults
        self.metrics = metrics
        self.settings = settings
        self.watch_tasks: set[asyncio.Task[Any]] = set()

    # -- entry ---------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if self.faults.in_outage():
            return _outage_response(request, self.faults.outage_kind, self.faults.outage_code)
        try:
            return await self._dispatch(request)
        except ApiError as exc:
            return _status_response(exc)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        agent = request.headers.get("User-Agent", "")
        accept = request.headers.get("Accept", "")
        if path in ("/api", "/apis") and aggregated_discovery.wants_aggregated(accept):
            self.metrics.count("get", "discovery", agent)
            return aggregated_discovery.respond(
                request, core=path == "/api", absent=self.settings.absent_groups
            )
        static = self._static(path)
        if static is not None:
            self.metrics.count("get", "discovery", agent)
            return web.json_response(static)
        route = _parse_route(path, self.settings.absent_groups)
        if route is None:
            raise _missing()
        return await self._resource(request, route)

    def _static(self, path: str) -> Any:
        parts = path.strip("/").split("/") if path != "/" else []
        absent = self.settings.absent_groups
        if path == "/version":
            return discovery.version_info(self.settings)
        if path == "/api":
            return discovery.core_versions()
        if path == "/apis":
            return discovery.group_list(absent)
        if path == "/api/v1":
            return discovery.resource_list("", "v1")
        if len(parts) == 2 and parts[0] == "apis":
            return _found(discovery.group(parts[1], absent))
        if len(parts) == 3 and parts[0] == "apis":
            return _found(discovery.resource_list(parts[1], parts[2], absent))
        if path == "/openapi/v3":
            return discovery.openapi_root(absent)
        if path.startswith("/openapi/v3/"):
            rest = parts[2:]
            doc = None
            if rest[:1] == ["api"] and len(rest) == 2:
                doc = discovery.openapi_group_version("", rest[1])
            elif rest[:1] == ["apis"] and len(rest) == 3:
                doc = discovery.openapi_group_version(rest[1], rest[2], absent)
            return _found(doc)
        if path in ("/healthz", "/livez", "/readyz"):
            return "ok"
        return None

    # -- resources -----------------------------------------------------------------------------

    async def _resource(self, request: web.Request, route: Route) -> web.StreamResponse:
        method = request.method
        query = request.query
        rt = route.rt
        agent = request.headers.get("User-Agent", "")
        resource_name = rt.plural + (f"/{route.subresource}" if route.subresource else "")
        is_watch = route.legacy_watch or list_options.query_bool(query.get("watch", "false"))
        verb = _verb(method, is_watch=is_watch, collection=route.name is None)
        self.metrics.count(verb, resource_name, agent)
        dry_run = "All" in query.getall("dryRun", [])
        if verb == "watch":
            options = list_options.parse(query, legacy_watch=route.legacy_watch)
            return await self._watch(request, route, options)
        if verb == "list":
            list_options.parse(query, legacy_watch=False)  # validated only: a list reads the latest state
            listed = self._list(route, query)
            if tables.wants_table(request.headers.get("Accept", "")):
                printed = tables.table(rt, listed["items"], listed["metadata"]["resourceVersion"])
                printed["metadata"] = listed["metadata"]
                return web.json_response(printed)
            return web.json_response(listed)
        if verb == "create":
            body = await _read_object(request)
            _check_kind(rt, body)
            created = self.object_store.create(rt, self._body_namespace(route, body), body, dry_run=dry_run)
            return web.json_response(created, status=201)
        if verb == "deletecollection":
            return web.json_response(await self._delete_collection(request, route))
        name = route.name or ""
        namespace = route.namespace or ""
        namespace_finalize = rt.kind == "Namespace" and route.subresource == "finalize"
        if route.subresource == "scale" and rt.has_scale:
            return web.json_response(await self._scale(request, verb, rt, namespace, name, dry_run=dry_run))
        if route.subresource not in ("", "status") and not namespace_finalize:
            raise _missing()
        if verb == "get":
            obj = self.object_store.peek(rt, namespace, name)
            if obj is None:
                raise errors.not_found(rt.plural, rt.group, name)
            if tables.wants_table(request.headers.get("Accept", "")):
                return web.json_response(tables.table(rt, [obj], obj["metadata"]["resourceVersion"]))
            return web.json_response(obj)
        if verb == "update":
            body = await _read_object(request)
            _check_kind(rt, body)
            if namespace_finalize:
                return web.json_response(self._finalize_namespace(name, body))
            sub = route.subresource
            updated = self.object_store.replace(rt, namespace, name, body, subresource=sub, dry_run=dry_run)
            return web.json_response(updated)
        if verb == "patch":
            patched, created_now = await self._patch(request, route, name, namespace, dry_run=dry_run)
            return web.json_response(patched, status=201 if created_now else 200)
        if verb == "delete":
            return web.json_response(await self._delete(request, rt, namespace, name, dry_run=dry_run))
        raise errors.method_not_allowed(f"method {method} is not supported on this path")

    async def _delete(
        self, request: web.Request, rt: ResourceType, namespace: str, name: str, *, dry_run: bool
    ) -> Obj:
        options = await _delete_options(request)
        obj, gone = self.object_store.delete(
            rt,
            namespace,
            name,
            propagation=options.get("propagationPolicy") or _orphan_policy(options),
            preconditions=options.get("preconditions"),
            grace_period=options.get("gracePeriodSeconds"),
            dry_run=dry_run or "All" in (options.get("dryRun") or []),
        )
        if not gone:
            return obj
        # Objects deleted at once are answered with a Success Status, as the generic registry does.
        details = {"name": name, "kind": rt.plural, "uid": obj["metadata"]["uid"]}
        if rt.group:
            details["group"] = rt.group
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _body_namespace(self, route: Route, body: Obj) -> str:
        if not route.rt.namespaced:
            return ""
        body_ns = (body.get("metadata") or {}).get("namespace")
        if route.namespace is None:
            raise errors.bad_request(
                "the namespace must be given in the request path to create a namespaced object"
            )
        if body_ns and body_ns != route.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        return route.namespace

    def _selectors(self, rt: ResourceType, query: Any) -> tuple[LabelSelector, FieldSelector]:
        try:
            labels = parse_label_selector(query.get("labelSelector", ""))
            fields = parse_field_selector(query.get("fieldSelector", ""))
        except SelectorError as exc:
            raise errors.bad_request(f"unable to parse requirement: {exc}") from exc
        allowed = {"metadata.name", "metadata.namespace"} | _EXTRA_FIELDS.get(rt.kind, set())
        for field in fields.fields():
            if field not in allowed:
                raise errors.bad_request(f"field label not supported: {field}")
        return labels, fields

    def _list(self, route: Route, query: Any) -> Obj:
        rt = route.rt
        labels, fields = self._selectors(rt, query)
        items = self.object_store.list(rt, route.namespace, labels, fields)
        rv = str(self.object_store.resource_version)
        meta: Obj = {"resourceVersion": rv}
        start = 0
        token = query.get("continue", "")
        if token:
            start, rv = _decode_continue(token)
            meta["resourceVersion"] = rv
        limit = _int_param(query, "limit", 0)
        page = items[start:]
        if limit > 0 and len(page) > limit:
            page = page[:limit]
            meta["continue"] = _encode_continue(start + limit, rv)
            meta["remainingItemCount"] = len(items) - start - limit
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": page}

    async def _delete_collection(self, request: web.Request, route: Route) -> Obj:
        rt = route.rt
        labels, fields = self._selectors(rt, request.query)
        options = await _delete_options(request)
        deleted = []
        for obj in self.object_store.list(rt, route.namespace, labels, fields):
            meta = obj["metadata"]
            with contextlib.suppress(ApiError):
                gone, _ = self.object_store.delete(
                    rt,
                    meta.get("namespace", ""),
                    meta["name"],
                    propagation=options.get("propagationPolicy") or _orphan_policy(options),
                    grace_period=options.get("gracePeriodSeconds"),
                )
                deleted.append(gone)
        meta_out = {"resourceVersion": str(self.object_store.resource_version)}
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": meta_out,
            "items": deleted,
        }

    def _finalize_namespace(self, name: str, body: Obj) -> Obj:
        live = self.object_store.get(resources.resource("", "namespaces"), "", name)
        if live is None:
            raise errors.not_found("namespaces", "", name)
        live.setdefault("spec", {})["finalizers"] = list((body.get("spec") or {}).get("finalizers") or [])
        return self.object_store.write_internal(resources.resource("", "namespaces"), live)

    async def _patch(
        self, request: web.Request, route: Route, name: str, namespace: str, *, dry_run: bool
    ) -> tuple[Obj, bool]:
        rt = route.rt
        live = self.object_store.get(rt, namespace, name)
        if request.content_type == APPLY:
            body = await _patch_body(request)
            return self._apply(request, route, name, namespace, body, live, dry_run=dry_run)
        if live is None:
            raise errors.not_found(rt.plural, rt.group, name)
        new = await self._patched(request, live, kind=rt.kind)
        sub = "status" if route.subresource == "status" else ""
        return self.object_store.replace(rt, namespace, name, new, subresource=sub, dry_run=dry_run), False

    async def _patched(self, request: web.Request, live: Obj, *, kind: str) -> Obj:
        """`live` with the request's JSON, merge or strategic merge patch applied."""
        content_type = request.content_type
        body = await _patch_body(request)
        try:
            if content_type == "application/json-patch+json":
                if not isinstance(body, list):
                    raise errors.bad_request("json patch must be a list of operations")
                new = patching.json_patch(live, body)
            elif not isinstance(body, dict):
                raise errors.bad_request("patch body must be a JSON object")
            elif content_type == "application/merge-patch+json":
                new = patching.merge_patch(live, body)
            elif content_type == "application/strategic-merge-patch+json":
                new = patching.strategic_merge_patch(live, body, kind=kind)
            else:
                raise errors.unsupported_media_type(content_type)
        except patching.PatchError as exc:
            raise errors.ApiError(
                422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
            ) from exc
        if not isinstance(new, dict):
            raise errors.bad_request("the patch turned the object into something other than an object")
        return new

    async def _scale(
        self, request: web.Request, verb: str, rt: ResourceType, namespace: str, name: str, *, dry_run: bool
    ) -> Obj:
        """The autoscaling/v1 Scale view of a workload; writing it changes only spec.replicas."""
        live = self.object_store.get(rt, namespace, name)
        if live is None:
            raise errors.not_found(rt.plural, rt.group, name)
        scale = _scale_of(live)
        if verb == "get":
            return scale
        if verb == "update":
            body = await _read_object(request)
        elif verb == "patch" and request.content_type != APPLY:
            body = await self._patched(request, scale, kind="Scale")
        else:
            raise errors.method_not_allowed(f"{verb} is not supported on {rt.plural}/scale")
        sent_rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
        if sent_rv and sent_rv != live["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        replicas = (body.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            cause = {
                "reason": "FieldValueInvalid",
                "field": "spec.replicas",
                "message": "must be an integer >= 0",
            }
            raise errors.invalid("Scale", "autoscaling", name, [cause])
        live.setdefault("spec", {})["replicas"] = replicas
        return _scale_of(self.object_store.replace(rt, namespace, name, live, dry_run=dry_run))

    def _apply(
        self,
        request: web.Request,
        route: Route,
        name: str,
        namespace: str,
        body: Any,
        live: Obj | None,
        *,
        dry_run: bool,
    ) -> tuple[Obj, bool]:
        rt = route.rt
        manager = request.query.get("fieldManager", "")
        if not manager:
            raise errors.bad_request(
                "PATCH, application/apply-patch+yaml requests require fieldManager to be set"
            )
        if not isinstance(body, dict):
            raise errors.bad_request("apply patch body must be an object")
        _check_kind(rt, body, require=True)
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") not in (None, name):
            raise errors.bad_request("the name of the object does not match the name on the URL")
        sub = "status" if route.subresource == "status" else ""
        if live is None:
            if sub:
                raise errors.not_found(rt.plural, rt.group, name)
            # Server-side apply creates a missing object, just like a create.
            body = dict(body)
            body["metadata"] = {**body_meta, "name": name}
            created = self.object_store.create(rt, namespace, body, dry_run=dry_run)
            if not dry_run:
                self.object_store.applied.setdefault(created["metadata"]["uid"], {})[manager] = body
            return created, True
        previous = self.object_store.applied.get(live["metadata"]["uid"], {}).get(manager)
        new = patching.apply_patch(live, body, previous)
        result = self.object_store.replace(rt, namespace, name, new, subresource=sub, dry_run=dry_run)
        if not dry_run:
            self.object_store.applied.setdefault(live["metadata"]["uid"], {})[manager] = body
        return result, False

    # -- watch ---------------------------------------------------------------------------------

    async def _watch(
        self, request: web.Request, route: Route, options: list_options.ListOptions
    ) -> web.StreamResponse:
        query = request.query
        rt = route.rt
        labels, fields = self._selectors(rt, query)
        if route.name is not None:
            fields = parse_field_selector(f"metadata.name={route.name}")
        rv = options.resource_version
        bookmarks = options.allow_watch_bookmarks
        timeout = _int_param(query, "timeoutSeconds", 0)
        # Initial events show the current state, which is at least as new as any version asked for; without
        # them the watch resumes after `rv`, or starts at the newest version when there is none.
        since: int | None = None
        if not options.initial_events and rv not in ("", "0"):
            try:
                since = int(rv)
            except ValueError as exc:
                raise errors.ApiError(400, "BadRequest", f'invalid resource version: "{rv}"') from exc
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            watch = self.object_store.open_watch(
                rt,
                route.namespace,
                labels,
                fields,
                since=since,
                initial=options.initial_events,
                initial_end_bookmark=options.initial_events_end_bookmark,
            )
        except ApiError as exc:
            # The real server answers a too-old resourceVersion with 200 and a single ERROR event.
            await response.write(watch_line("ERROR", exc.status()))
            await response.write_eof()
            return response
        try:
            await self._stream(response, watch, bookmarks=bookmarks, timeout=timeout)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.object_store.close_watch(watch)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    async def _stream(
        self, response: web.StreamResponse, watch: Watch, *, bookmarks: bool, timeout: int
    ) -> None:
        deadline = time.monotonic() + timeout if timeout > 0 else None
        interval = self.settings.bookmark_interval
        while True:
            wait = interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return
            try:
                line = await asyncio.wait_for(watch.queue.get(), wait)
            except TimeoutError:
                if bookmarks and (deadline is None or time.monotonic() < deadline):
                    await response.write(watch_line("BOOKMARK", self.object_store.bookmark(watch.rt)))
                continue
            if line == CLOSED:
                return
            # Drain what is already queued into one write: fewer syscalls under bursts.
            chunks = [line]
            while not watch.queue.empty():
                line = watch.queue.get_nowait()
                if line == CLOSED:
                    await response.write(b"".join(chunks))
                    return
                chunks.append(line)
            await response.write(b"".join(chunks))


def _scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    status = obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": str(label_selector_from_object(selector)),
        },
    }


async def _patch_body(request: web.Request) -> Any:
    if request.content_type not in PATCH_TYPES:
        raise errors.unsupported_media_type(request.content_type)
    raw = await request.read()
    try:
        return yaml.safe_load(raw) if request.content_type == APPLY else json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from exc


def _verb(method: str, *, is_watch: bool, collection: bool) -> str:
    """The Kubernetes verb of a request, as audit logs and RBAC name it."""
    if method == "GET":
        return "watch" if is_watch else "list" if collection else "get"
    verbs = (
        {"POST": "create", "DELETE": "deletecollection"}
        if collection
        else {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    )
    if method not in verbs:
        raise errors.method_not_allowed(f"method {method} is not supported on this path")
    return verbs[method]


def _found(doc: Obj | None) -> Obj:
    if doc is None:
        raise _missing()
    return doc


def _missing() -> errors.ApiError:
    return errors.ApiError(404, "NotFound", "the server could not find the requested resource")


def _status_response(exc: ApiError) -> web.Response:
    return web.json_response(exc.status(), status=exc.code)


def _outage_response(request: web.Request, kind: str | None, code: int) -> web.Response:
    """What a failing API server answers, in its own words (the messages kube-apiserver and etcd use)."""
    if kind == "restart":
        # The process is gone: the listener is closed (app.py) and a connection kept alive is reset.
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)  # never reaches the client: its connection is already reset
    if kind == "unavailable":
        error = ApiError(503, "ServiceUnavailable", "The apiserver is shutting down, please try again later.")
        return web.json_response(error.status(), status=503, headers={"Retry-After": "1"})
    if kind == "etcd":
        return _status_response(ApiError(500, "InternalError", "etcdserver: request timed out"))
    if kind == "throttled":
        error = ApiError(429, "TooManyRequests", "Too many requests, please try again later.")
        body = error.status() | {"details": {"retryAfterSeconds": 1}}
        return web.json_response(body, status=429, headers={"Retry-After": "1"})
    reason = "ServiceUnavailable" if code == 503 else "InternalError"
    return _status_response(ApiError(code, reason, "kubesim: simulated API server outage"))


def _parse_route(path: str, absent: frozenset[str] = frozenset()) -> Route | None:
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and resources.lookup(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    rt = resources.lookup(group, version, rest[0]) if rest else None
    if rt is None or len(rest) > 3 or rt.group in absent:
        return None
    if namespace is not None and not rt.namespaced:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else ""
    return Route(rt=rt, namespace=namespace, name=name, subresource=sub, legacy_watch=legacy_watch)


def _check_kind(rt: ResourceType, body: Obj, *, require: bool = False) -> None:
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if require and (not kind or not api_version):
        raise errors.bad_request("apiVersion and kind must be set in an apply patch")
    if kind and kind != rt.kind:
        raise errors.bad_request(f"the kind {kind!r} of the body does not match the resource {rt.plural!r}")
    if api_version and api_version != rt.api_version:
        raise errors.bad_request(
            f"the API version {api_version!r} of the body does not match {rt.api_version!r}"
        )


async def _read_object(request: web.Request) -> Obj:
    raw = await request.read()
    if request.content_type == PROTOBUF:
        try:
            return protobuf.decode_protobuf_object(raw)
        except protobuf.ProtobufError as exc:
            raise errors.ApiError(415, "UnsupportedMediaType", str(exc)) from exc
    if request.content_type not in ("application/json", "application/yaml", "", "application/octet-stream"):
        raise errors.unsupported_media_type(request.content_type)
    try:
        body = json.loads(raw) if request.content_type != "application/yaml" else yaml.safe_load(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"Object 'Kind' is missing in '{raw[:200]!r}': {exc}") from exc
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    return body


async def _delete_options(request: web.Request) -> Obj:
    options: Obj = {}
    if request.can_read_body:
        raw = await request.read()
        try:
            if request.content_type == PROTOBUF:
                loaded: Any = protobuf.decode_protobuf_object(raw)
            else:
                loaded = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:  # ProtobufError is a ValueError too
            raise errors.bad_request(f"invalid DeleteOptions: {exc}") from exc
        if isinstance(loaded, dict):
            options.update(loaded)
    query = request.query
    if "propagationPolicy" in query:
        options["propagationPolicy"] = query["propagationPolicy"]
    if "gracePeriodSeconds" in query:
        options["gracePeriodSeconds"] = _int_param(query, "gracePeriodSeconds", 0)
    policy = options.get("propagationPolicy")
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise errors.bad_request(f'propagationPolicy: Unsupported value: "{policy}"')
    return options


def _orphan_policy(options: Obj) -> str | None:
    # orphanDependents is the deprecated spelling of propagationPolicy=Orphan.
    orphan = options.get("orphanDependents")
    if orphan is True:
        return "Orphan"
    if orphan is False:
        return "Background"
    return None


def _int_param(query: Any, name: str, default: int) -> int:
    value = query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise errors.bad_request(f"invalid {name}: {value!r} is not an integer") from exc


def _encode_continue(start: int, rv: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"start": start, "rv": rv}).encode()).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["start"]), str(data["rv"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise errors.bad_request("continue key is not valid") from exc
