"""Parsed helm results: releases and revisions from `--output json`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storeplane.k8s.helm_args import ReleaseState

# --- results -------------------------------------------------------------------------------------------


def parse_time(value: str) -> datetime | None:
    """helm's RFC 3339 timestamps (nanoseconds, "Z"); fromisoformat takes at most microseconds."""
    if not value:
        return None
    match = re.match(r"^(.*?T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$", value)
    if match is None:
        raise ValueError(f"unexpected helm timestamp {value!r}")
    head, fraction, zone = match.groups()
    micro = f".{(fraction or '')[:6]:0<6}" if fraction else ""
    return datetime.fromisoformat(f"{head}{micro}{'+00:00' if zone == 'Z' else zone}")


@dataclass(frozen=True)
class Revision:
    """One entry of `helm history`."""

    revision: int
    status: ReleaseState
    chart: str
    """Chart name and version, e.g. "woocommerce-0.1.0"."""
    app_version: str
    updated: datetime | None
    description: str

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Revision:
        return cls(
            revision=int(item["revision"]),
            status=ReleaseState(item.get("status", "")),
            chart=str(item.get("chart", "")),
            app_version=str(item.get("app_version", "")),
            updated=parse_time(str(item.get("updated", ""))),
            description=str(item.get("description", "")),
        )


@dataclass(frozen=True)
class Release:
    """A release as helm reports it: the newest revision's summary."""

    name: str
    namespace: str
    revision: int
    status: ReleaseState
    chart: str
    """Chart name and version, e.g. "woocommerce-0.1.0"."""
    app_version: str
    last_deployed: datetime | None
    description: str = ""

    @classmethod
    def from_revision(cls, revision: Revision, *, name: str, namespace: str) -> Release:
        return cls(
            name=name,
            namespace=namespace,
            revision=revision.revision,
            status=revision.status,
            chart=revision.chart,
            app_version=revision.app_version,
            last_deployed=revision.updated,
            description=revision.description,
        )

    @classmethod
    def from_list_item(cls, item: Mapping[str, Any]) -> Release:
        """An entry of `helm list -o json` (revision is a string there)."""
        return cls(
            name=str(item["name"]),
            namespace=str(item["namespace"]),
            revision=int(item["revision"]),
            status=ReleaseState(item.get("status", "")),
            chart=str(item.get("chart", "")),
            app_version=str(item.get("app_version", "")),
            last_deployed=parse_time(str(item.get("updated", ""))),
        )

    @classmethod
    def from_release_json(cls, data: Mapping[str, Any]) -> Release:
        """install/upgrade `-o json`: the whole release record; only its summary is kept (the record also
        holds the rendered manifest, Secrets included, and the values)."""
        info = data.get("info") or {}
        metadata = (data.get("chart") or {}).get("metadata") or {}
        chart = f"{metadata['name']}-{metadata['version']}" if "name" in metadata else ""
        return cls(
            name=str(data["name"]),
            namespace=str(data["namespace"]),
            revision=int(data["version"]),
            status=ReleaseState(info.get("status", "")),
            chart=chart,
            app_version=str(metadata.get("appVersion", "")),
            last_deployed=parse_time(str(info.get("last_deployed", ""))),
            description=str(info.get("description", "")),
        )
