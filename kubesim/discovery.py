"""Discovery documents (/api, /apis, resource lists) and the OpenAPI v3 documents clients read."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubesim.resources import READ_ONLY_STATUS_VERBS, ResourceType, group_versions, types_in
from kubesim.settings import Settings

Doc = dict[str, Any]


def version_info(settings: Settings) -> Doc:
    major, minor = settings.server_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "gitVersion": settings.server_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions() -> Doc:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def _group(name: str, versions: list[str]) -> Doc:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def group_list(absent: frozenset[str] = frozenset()) -> Doc:
    groups = [_group(g, vs) for g, vs in group_versions(absent).items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(name: str, absent: frozenset[str] = frozenset()) -> Doc | None:
    versions = group_versions(absent).get(name)
    if not name or versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(group_name: str, version: str, absent: frozenset[str] = frozenset()) -> Doc | None:
    types = types_in(group_name, version, absent)
    if not types:
        return None
    resources: list[Doc] = []
    for rt in types:
        entry: Doc = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
            "storageVersionHash": _hash(rt.key)[:12],
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.has_scale:
            resources.append(
                {
                    "name": f"{rt.plural}/scale",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": list(READ_ONLY_STATUS_VERBS),
                }
            )
        if rt.has_status:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(READ_ONLY_STATUS_VERBS),
                }
            )
    gv = f"{group_name}/{version}" if group_name else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _gv_path(group_name: str, version: str) -> str:
    return f"api/{version}" if not group_name else f"apis/{group_name}/{version}"


def openapi_root(absent: frozenset[str] = frozenset()) -> Doc:
    paths = {}
    for group_name, versions in group_versions(absent).items():
        for version in versions:
            path = _gv_path(group_name, version)
            doc_hash = _hash(json.dumps(openapi_group_version(group_name, version), sort_keys=True))[:32]
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={doc_hash.upper()}"}
    return {"paths": paths}


def _gvk(rt: ResourceType) -> Doc:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _query(name: str, description: str) -> Doc:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string"},
        "uniqueItems": True,
    }


def _item_path(rt: ResourceType) -> str:
    base = "/" + _gv_path(rt.group, rt.version)
    if rt.namespaced:
        return f"{base}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
    return f"{base}/{rt.plural}/{{name}}"


def openapi_group_version(group_name: str, version: str, absent: frozenset[str] = frozenset()) -> Doc | None:
    """A per-group-version document: operations carry their GVK and the fieldValidation parameter.

    kubectl and helm read `x-kubernetes-group-version-kind` and look for `fieldValidation` among a PATCH's
    parameters to decide that the server validates fields, and then skip client-side schema validation.
    """
    types = types_in(group_name, version, absent)
    if not types:
        return None
    paths: Doc = {}
    for rt in types:
        write_params = [
            _query("dryRun", "When present, modifications are not persisted."),
            _query("fieldManager", "Name of the actor making the change."),
            _query(
                "fieldValidation",
                "How the server treats unknown or duplicate fields: Ignore, Warn or Strict.",
            ),
        ]
        operation = {"x-kubernetes-group-version-kind": _gvk(rt), "responses": {"200": {"description": "OK"}}}
        paths[_item_path(rt)] = {
            "get": {**operation, "operationId": f"read{rt.kind}", "x-kubernetes-action": "get"},
            "put": {
                **operation,
                "operationId": f"replace{rt.kind}",
                "x-kubernetes-action": "put",
                "parameters": write_params,
            },
            "patch": {
                **operation,
                "operationId": f"patch{rt.kind}",
                "x-kubernetes-action": "patch",
                "parameters": [*write_params, _query("force", "Force apply.")],
            },
            "delete": {**operation, "operationId": f"delete{rt.kind}", "x-kubernetes-action": "delete"},
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": {}},
    }
