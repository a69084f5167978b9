"""charts/engines.yaml and values/<env>.yaml, the contract the control plane reads, against the chart."""

from __future__ import annotations

import string
from typing import Any

import pytest
import yaml

from tests.chart.chart_helpers import (
    ENVIRONMENTS,
    NAMESPACE,
    RELEASE,
    REPO,
    STORE_VALUES,
    Manifest,
    env_values,
)

ENGINES_FILE = REPO / "charts" / "engines.yaml"
PLACEHOLDERS = {"release", "namespace", "host", "scheme"}
CHECK_TYPES = {"namespace", "release", "ready", "job", "exists", "condition"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}


def engines() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ENGINES_FILE.read_text())
    assert loaded["schemaVersion"] == 1
    engines: dict[str, Any] = loaded["engines"]
    return engines


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def fill(template: str, *, environment: str = "local") -> str:
    tls = env_values(environment)["environment"]["tls"]["enabled"]
    return template.format(
        release=RELEASE,
        namespace=NAMESPACE,
        host=STORE_VALUES["store"]["host"],
        scheme="https" if tls else "http",
    )


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name} not rendered"
    return matches[0]


def test_every_engine_names_a_chart_in_charts() -> None:
    for key, engine in engines().items():
        chart = yaml.safe_load((REPO / "charts" / engine["chart"] / "Chart.yaml").read_text())
        assert chart["name"] == key
        assert engine["displayName"]


def test_templates_use_only_documented_placeholders() -> None:
    for engine in engines().values():
        for text in strings(engine):
            fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            assert fields <= PLACEHOLDERS, text


def test_woocommerce_workloads_setup_job_and_credentials_match_the_rendered_chart(
    rendered: dict[str, list[Manifest]],
) -> None:
    engine = engines()["woocommerce"]
    manifests = rendered["local"]
    for workload in engine["workloads"]:
        assert workload["kind"] in WORKLOAD_KINDS
        find(manifests, workload["kind"], fill(workload["name"]))
    (job,) = [m for m in manifests if m["kind"] == "Job"]
    setup = engine["setupJob"]
    name = job["metadata"]["name"]
    assert name.startswith(fill(setup["namePrefix"]))
    assert len(name) - len(fill(setup["namePrefix"])) == setup["hashLength"]
    assert {k: fill(v) for k, v in setup["labels"].items()}.items() <= job["metadata"]["labels"].items()
    credentials = engine["credentials"]
    secret = find(manifests, "Secret", fill(credentials["secret"]))
    assert {credentials["usernameKey"], credentials["passwordKey"]} <= set(secret["data"])


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_url_templates_follow_the_environment_tls_setting(environment: str) -> None:
    urls = engines()["woocommerce"]["urls"]
    scheme = "https" if env_values(environment)["environment"]["tls"]["enabled"] else "http"
    host = STORE_VALUES["store"]["host"]
    assert fill(urls["storefront"], environment=environment) == f"{scheme}://{host}/"
    assert fill(urls["admin"], environment=environment) == f"{scheme}://{host}/wp-admin/"


def test_steps_are_ordered_unique_and_refer_to_rendered_objects(rendered: dict[str, list[Manifest]]) -> None:
    engine = engines()["woocommerce"]
    steps = engine["steps"]
    assert len({step["id"] for step in steps}) == len(steps)
    assert [step["check"]["type"] for step in steps][:2] == ["namespace", "release"]
    for step in steps:
        check = step["check"]
        assert check["type"] in CHECK_TYPES
        assert step["title"]
        if check["type"] in ("ready", "exists"):
            find(rendered["local"], check["kind"], fill(check["name"]))
        if check["type"] == "condition":
            # A `when: tls` step names an object only the TLS environment renders (the Certificate).
            environment = "prod" if step.get("when") == "tls" else "local"
            find(rendered[environment], check["kind"], fill(check["name"], environment=environment))
            assert check["condition"]
    ready = [
        {"kind": step["check"]["kind"], "name": step["check"]["name"]}
        for step in steps
        if step["check"]["type"] == "ready"
    ]
    assert ready == engine["workloads"], "every workload that must be ready is a step, in the same order"
    assert [s for s in steps if s["check"]["type"] == "job"], "the setup Job is a step"


def test_environment_files_hold_the_same_engine_neutral_keys() -> None:
    def keys(value: Any, prefix: str = "") -> set[str]:
        if not isinstance(value, dict):
            return {prefix}
        # Annotations and label maps are free-form per environment.
        if prefix.endswith(("annotations", "podLabels")):
            return {prefix}
        return {k for key, item in value.items() for k in keys(item, f"{prefix}.{key}")}

    local, prod = (env_values(environment) for environment in ENVIRONMENTS)
    assert set(local) == set(prod) == {"environment"}
    assert keys(local) == keys(prod)
