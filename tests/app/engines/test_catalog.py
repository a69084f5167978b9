"""The engine catalogue: the real charts/engines.yaml loads, and malformed entries are named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from storeplane.engines.catalog import CatalogError, load_catalog
from tests.helpers import REPO

ENGINES = REPO / "charts" / "engines.yaml"


def test_the_woocommerce_engine_loads_with_its_chart_workloads_and_steps() -> None:
    engine = load_catalog(ENGINES).get("woocommerce")
    assert engine is not None
    assert engine.chart == REPO / "charts" / "woocommerce"
    assert (engine.chart / "Chart.yaml").exists()
    assert [(w.kind, w.name("shop1")) for w in engine.workloads] == [
        ("StatefulSet", "shop1-mariadb"),
        ("Deployment", "shop1-wordpress"),
    ]
    assert [s.id for s in engine.steps] == [
        "namespace",
        "release",
        "database",
        "wordpress",
        "setup",
        "ingress",
        "certificate",
    ]
    assert engine.steps[2].name("shop1") == "shop1-mariadb"


def test_the_certificate_step_applies_only_with_tls() -> None:
    engine = load_catalog(ENGINES).engines["woocommerce"]
    certificate = engine.steps[-1]
    assert (certificate.check, certificate.kind, certificate.condition, certificate.when) == (
        "condition",
        "Certificate",
        "Ready",
        "tls",
    )
    assert certificate.name("shop1") == "shop1-tls"
    assert [s.id for s in engine.steps_for(frozenset())] == [s.id for s in engine.steps[:-1]]
    assert engine.steps_for(frozenset({"tls"})) == engine.steps


def test_urls_follow_the_environment_tls_setting() -> None:
    engine = load_catalog(ENGINES).engines["woocommerce"]
    assert engine.urls(host="shop1.localtest.me", tls=False) == (
        "http://shop1.localtest.me/",
        "http://shop1.localtest.me/wp-admin/",
    )
    assert engine.urls(host="shop1.example.com", tls=True)[0] == "https://shop1.example.com/"


def test_the_setup_job_matches_only_its_hashed_names() -> None:
    job = load_catalog(ENGINES).engines["woocommerce"].setup_job
    assert job is not None
    assert job.matches("shop1-setup-0a1b2c3d", "shop1")
    assert not job.matches("shop1-setup-0a1b2c3", "shop1")
    assert not job.matches("shop10-setup-0a1b2c3d", "shop1")
    assert not job.matches("shop1-setup-0A1B2C3D", "shop1")


def _write(tmp_path: Path, engines: object) -> Path:
    (tmp_path / "demo").mkdir()
    path = tmp_path / "engines.yaml"
    path.write_text(yaml.safe_dump({"schemaVersion": 1, "engines": engines}))
    return path


def _entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "displayName": "Demo",
        "chart": "demo",
        "workloads": [{"kind": "Deployment", "name": "{release}-web"}],
        "urls": {"storefront": "{scheme}://{host}/", "admin": "{scheme}://{host}/admin/"},
        "steps": [{"id": "web", "title": "Web ready", "check": {"type": "ready", "kind": "Deployment"}}],
    }
    entry.update(overrides)
    return entry


def test_a_second_engine_is_one_more_entry(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, {"demo": _entry(), "other": _entry(displayName="Other")}))
    assert catalog.keys() == ["demo", "other"]


def test_an_unknown_placeholder_is_rejected_with_its_location(tmp_path: Path) -> None:
    path = _write(tmp_path, {"demo": _entry(urls={"storefront": "{scheme}://{domain}/", "admin": "x"})})
    with pytest.raises(
        CatalogError, match=r"engines\.demo\.urls\.storefront: unknown placeholder\(s\) \['domain'\]"
    ):
        load_catalog(path)


def test_a_chart_outside_the_charts_folder_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="must stay inside"):
        load_catalog(_write(tmp_path, {"demo": _entry(chart="../../etc")}))


def test_an_unknown_check_type_is_rejected(tmp_path: Path) -> None:
    steps = [{"id": "x", "title": "X", "check": {"type": "poll-every-second"}}]
    with pytest.raises(CatalogError, match=r"engines\.demo\.steps\[0\]\.check\.type"):
        load_catalog(_write(tmp_path, {"demo": _entry(steps=steps)}))


def test_a_missing_display_name_is_rejected(tmp_path: Path) -> None:
    entry = _entry()
    del entry["displayName"]
    with pytest.raises(CatalogError, match=r"engines\.demo\.displayName: expected a non-empty string"):
        load_catalog(_write(tmp_path, {"demo": entry}))


def test_a_wrong_schema_version_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "engines.yaml"
    path.write_text("schemaVersion: 2\nengines: {}\n")
    with pytest.raises(CatalogError, match="schemaVersion: 1"):
        load_catalog(path)


def test_an_unknown_when_is_rejected(tmp_path: Path) -> None:
    steps = [{"id": "x", "title": "X", "when": "ipv6", "check": {"type": "namespace"}}]
    with pytest.raises(CatalogError, match=r"engines\.demo\.steps\[0\]\.when: expected one of \['tls'\]"):
        load_catalog(_write(tmp_path, {"demo": _entry(steps=steps)}))


def test_a_condition_check_needs_its_kind_name_and_condition(tmp_path: Path) -> None:
    steps = [
        {"id": "x", "title": "X", "check": {"type": "condition", "kind": "Certificate", "name": "{release}"}}
    ]
    with pytest.raises(CatalogError, match=r"engines\.demo\.steps\[0\]\.check\.condition: expected"):
        load_catalog(_write(tmp_path, {"demo": _entry(steps=steps)}))
