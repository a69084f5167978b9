"""The engine catalogue read from charts/engines.yaml: charts, readiness rules, URLs and progress steps."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The only placeholders engines.yaml may use; the control plane fills them without a template engine.
PLACEHOLDERS = frozenset({"release", "namespace", "host", "scheme"})
CHECK_TYPES = frozenset({"namespace", "release", "ready", "job", "exists", "condition"})
# What a step's `when` may name: a feature of the environment, decided once at start (observing/features.py).
FEATURES = frozenset({"tls"})


class CatalogError(ValueError):
    """engines.yaml is malformed; the message names the entry and field."""


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format_map(values)


def _check_template(template: Any, where: str) -> str:
    if not isinstance(template, str) or not template:
        raise CatalogError(f"{where}: expected a non-empty string")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from exc
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise CatalogError(
            f"{where}: unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(PLACEHOLDERS)}"
        )
    return template


@dataclass(frozen=True)
class Workload:
    """A workload that must be ready (all replicas available) for the store to be Ready."""

    kind: str
    name_template: str

    def name(self, release: str) -> str:
        return _fill(self.name_template, {"release": release})


@dataclass(frozen=True)
class SetupJob:
    """The one-shot Job the store needs completed; its name is a prefix plus a hash of its inputs."""

    name_prefix_template: str
    hash_length: int
    labels: dict[str, str]

    def name_pattern(self, release: str) -> re.Pattern[str]:
        prefix = re.escape(_fill(self.name_prefix_template, {"release": release}))
        return re.compile(rf"^{prefix}[0-9a-f]{{{self.hash_length}}}$")

    def matches(self, job_name: str, release: str) -> bool:
        return self.name_pattern(release).match(job_name) is not None


@dataclass(frozen=True)
class Step:
    """One provisioning step shown as progress; done when its check holds."""

    id: str
    title: str
    check: str
    kind: str | None = None
    name_template: str | None = None
    condition: str | None = None
    """For a `condition` check: the status condition (e.g. Ready) that must be True."""
    when: str | None = None
    """The environment feature (FEATURES) without which the step does not apply; None: always."""

    def applies(self, features: frozenset[str]) -> bool:
        return self.when is None or self.when in features

    def name(self, release: str) -> str | None:
        return None if self.name_template is None else _fill(self.name_template, {"release": release})


@dataclass(frozen=True)
class Engine:
    """One engine: a chart and the rules that say when a store built from it is ready."""

    key: str
    display_name: str
    description: str
    chart: Path
    workloads: tuple[Workload, ...]
    setup_job: SetupJob | None
    storefront_url_template: str
    admin_url_template: str
    credentials_secret_template: str | None
    steps: tuple[Step, ...]
    quiet_prefix_templates: tuple[str, ...] = ()
    """Objects (and their events) the control plane does not follow, by name prefix: routine, repeated work
    such as a CronJob's runs, which would flood a store's history and say nothing about its readiness."""

    def steps_for(self, features: frozenset[str]) -> tuple[Step, ...]:
        """The steps that apply in an environment with these features, in order."""
        return tuple(step for step in self.steps if step.applies(features))

    def is_quiet(self, name: str, release: str) -> bool:
        return any(name.startswith(_fill(t, {"release": release})) for t in self.quiet_prefix_templates)

    def urls(self, *, host: str, tls: bool) -> tuple[str, str]:
        """Storefront and admin URLs for a store served at `host`."""
        values = {"host": host, "scheme": "https" if tls else "http"}
        return _fill(self.storefront_url_template, values), _fill(self.admin_url_template, values)


@dataclass(frozen=True)
class Catalog:
    """Every engine the control plane can install, by key."""

    engines: dict[str, Engine]

    def get(self, key: str) -> Engine | None:
        return self.engines.get(key)

    def keys(self) -> list[str]:
        return sorted(self.engines)


def _str(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{where}.{key}: expected a non-empty string")
    return value


def _engine(key: str, entry: Any, charts_dir: Path) -> Engine:
    where = f"engines.{key}"
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a mapping")
    chart = (charts_dir / _str(entry, "chart", where)).resolve()
    if charts_dir.resolve() not in chart.parents:
        raise CatalogError(f"{where}.chart: must stay inside {charts_dir}")
    workloads = tuple(
        Workload(
            kind=_str(w, "kind", f"{where}.workloads[{i}]"),
            name_template=_check_template(w.get("name"), f"{where}.workloads[{i}].name"),
        )
        for i, w in enumerate(entry.get("workloads") or [])
    )
    job = entry.get("setupJob")
    setup_job = None
    if job is not None:
        length = job.get("hashLength")
        if not isinstance(length, int) or not 4 <= length <= 16:
            raise CatalogError(f"{where}.setupJob.hashLength: expected an integer from 4 to 16")
        setup_job = SetupJob(
            name_prefix_template=_check_template(job.get("namePrefix"), f"{where}.setupJob.namePrefix"),
            hash_length=length,
            labels={str(k): str(v) for k, v in (job.get("labels") or {}).items()},
        )
    urls = entry.get("urls") or {}
    steps = []
    for i, step in enumerate(entry.get("steps") or []):
        check = step.get("check") or {}
        kind = check.get("type")
        if kind not in CHECK_TYPES:
            raise CatalogError(f"{where}.steps[{i}].check.type: expected one of {sorted(CHECK_TYPES)}")
        name = check.get("name")
        when = step.get("when")
        if when is not None and when not in FEATURES:
            raise CatalogError(f"{where}.steps[{i}].when: expected one of {sorted(FEATURES)}")
        if kind == "condition":
            for required in ("kind", "name", "condition"):
                _str(check, required, f"{where}.steps[{i}].check")
        steps.append(
            Step(
                id=_str(step, "id", f"{where}.steps[{i}]"),
                title=_str(step, "title", f"{where}.steps[{i}]"),
                check=kind,
                kind=check.get("kind"),
                name_template=None
                if name is None
                else _check_template(name, f"{where}.steps[{i}].check.name"),
                condition=check.get("condition"),
                when=when,
            )
        )
    quiet = tuple(
        _check_template(q.get("namePrefix") if isinstance(q, dict) else None, f"{where}.quietObjects[{i}]")
        for i, q in enumerate(entry.get("quietObjects") or [])
    )
    credentials = entry.get("credentials") or {}
    secret = credentials.get("secret")
    return Engine(
        key=key,
        display_name=_str(entry, "displayName", where),
        description=str(entry.get("description", "")),
        chart=chart,
        workloads=workloads,
        setup_job=setup_job,
        storefront_url_template=_check_template(urls.get("storefront"), f"{where}.urls.storefront"),
        admin_url_template=_check_template(urls.get("admin"), f"{where}.urls.admin"),
        credentials_secret_template=None
        if secret is None
        else _check_template(secret, f"{where}.credentials"),
        steps=tuple(steps),
        quiet_prefix_templates=quiet,
    )


def load_catalog(path: Path) -> Catalog:
    """Read and validate engines.yaml (blocking file I/O: call it at start-up or through a thread)."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("schemaVersion") != 1:
        raise CatalogError(f"{path}: expected a mapping with schemaVersion: 1")
    engines = document.get("engines")
    if not isinstance(engines, dict) or not engines:
        raise CatalogError(f"{path}: engines must be a non-empty mapping")
    return Catalog(engines={key: _engine(key, entry, path.parent) for key, entry in engines.items()})
