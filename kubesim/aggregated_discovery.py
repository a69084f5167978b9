"""Aggregated discovery (apidiscovery.k8s.io/v2): every group, version and resource in one answer.

client-go (helm 4, kubectl) asks `/api` and `/apis` with
`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json`. Answered with
the plain documents it then fetches every group version's resource list (ten more requests per helm command
here); a real API server (aggregated discovery is GA since 1.30) answers the whole discovery at once, names
the kind in the Content-Type, and sends an ETag that a later If-None-Match gets a 304 for. The v2beta1 form
is gone (AggregatedDiscoveryRemoveBetaType is locked on since 1.35): it is negotiated like any other type
kubesim cannot produce.
"""

from __future__ import annotations

import functools
import hashlib
import json

from aiohttp import web

from kubesim.discovery import Doc, resource_list
from kubesim.resources import group_versions

MEDIA_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_GVK = {"g": "apidiscovery.k8s.io", "v": "v2", "as": "APIGroupDiscoveryList"}


def wants_aggregated(accept: str) -> bool:
    """Whether content negotiation over `accept` picks aggregated discovery v2 in JSON.

    The most preferred clause that kubesim can answer decides: aggregated v2 JSON, or a plain media type (the
    plain documents, in JSON whatever was asked, as everywhere in kubesim). Clauses asking for another
    conversion (v2beta1, aggregated protobuf) are passed over, as the real server passes over what it lacks.
    """
    clauses: list[tuple[float, int, bool]] = []
    for index, clause in enumerate(accept.split(",")):
        media, *raw_params = (part.strip() for part in clause.split(";"))
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        quality = _quality(params.pop("q", "1"))
        if not media or quality <= 0:
            continue
        aggregated = media == "application/json" and all(params.get(k) == v for k, v in _GVK.items())
        if not aggregated and params.keys() & _GVK.keys():
            continue
        clauses.append((-quality, index, aggregated))
    return bool(clauses) and min(clauses)[2]


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1.0


def document(*, core: bool, absent: frozenset[str] = frozenset()) -> Doc:
    """The APIGroupDiscoveryList of `/api` (core: the unnamed group) or of `/apis` (every named group)."""
    items: list[Doc] = []
    for group_name, versions in group_versions(absent).items():
        if (group_name == "") != core:
            continue
        items.append(
            {
                "metadata": {"name": group_name} if group_name else {},
                "versions": [
                    {"version": v, "resources": _resources(group_name, v), "freshness": "Current"}
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def _resources(group_name: str, version: str) -> list[Doc]:
    """The plain resource list regrouped as apiserver's ConvertGroupVersionIntoToDiscovery does: each
    subresource ("deployments/scale") moves under its parent resource."""
    listed = resource_list(group_name, version)
    entries = listed["resources"] if listed else []
    out: list[Doc] = []
    parents: dict[str, Doc] = {}
    for entry in entries:
        if "/" in entry["name"]:
            continue
        resource: Doc = {
            "resource": entry["name"],
            "responseKind": _kind(entry),
            "scope": "Namespaced" if entry["namespaced"] else "Cluster",
            "singularResource": entry["singularName"],
            "verbs": entry["verbs"],
        }
        for key in ("shortNames", "categories"):
            if entry.get(key):
                resource[key] = entry[key]
        out.append(resource)
        parents[entry["name"]] = resource
    for entry in entries:
        parent, _, sub = entry["name"].partition("/")
        if sub:
            subresource = {"subresource": sub, "responseKind": _kind(entry), "verbs": entry["verbs"]}
            parents[parent].setdefault("subresources", []).append(subresource)
    return out


def _kind(entry: Doc) -> Doc:
    # Group and version stay empty when they are the resource list's own, as in the real documents.
    return {"group": entry.get("group", ""), "version": entry.get("version", ""), "kind": entry["kind"]}


def etag(doc: Doc) -> str:
    """The quoted upper-case hex SHA-512 of the compact JSON, as the real server computes it."""
    compact = json.dumps(doc, separators=(",", ":")).encode()
    return f'"{hashlib.sha512(compact).hexdigest().upper()}"'


@functools.cache
def _encoded(*, core: bool, absent: frozenset[str]) -> tuple[bytes, str]:
    # The served types never change while kubesim runs: build each document once.
    doc = document(core=core, absent=absent)
    return json.dumps(doc).encode(), etag(doc)


def respond(request: web.Request, *, core: bool, absent: frozenset[str] = frozenset()) -> web.Response:
    """The document with its ETag, or 304 Not Modified when the client already holds that version."""
    body, tag = _encoded(core=core, absent=absent)
    headers = {"ETag": tag, "Vary": "Accept", "Cache-Control": "public"}
    if request.headers.get("If-None-Match") == tag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, status=200, headers={**headers, "Content-Type": MEDIA_TYPE})
