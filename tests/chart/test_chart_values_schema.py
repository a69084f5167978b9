"""values.schema.json turns a wrong value into a failed install with a message naming the value."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.chart_helpers import CHART, RELEASE, STORE_VALUES, Helm

BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("empty store id", {"store": {**STORE_VALUES["store"], "id": ""}}, "/store/id"),
    ("store id not a label value", {"store": {**STORE_VALUES["store"], "id": "st 1!"}}, "/store/id"),
    ("host with uppercase", {"store": {**STORE_VALUES["store"], "host": "Shop.Example.com"}}, "/store/host"),
    ("unknown scale", {"environment": {"scale": "huge"}}, "/environment/scale"),
    ("tls flag as a string", {"environment": {"tls": {"enabled": "yes"}}}, "/environment/tls/enabled"),
    (
        "quota that is not a quantity",
        {"environment": {"quota": {"limits.cpu": "lots"}}},
        "/environment/quota",
    ),
    ("latest image tag", {"images": {"wordpress": {"tag": "latest"}}}, "/images/wordpress/tag"),
    ("malformed digest", {"images": {"mariadb": {"digest": "sha256:abc"}}}, "/images/mariadb/digest"),
    ("lowercase currency", {"woocommerce": {"currency": "usd"}}, "/woocommerce/currency"),
    ("root user", {"wordpress": {"uid": 0}}, "/wordpress/uid"),
    (
        "unsupported access mode",
        {"wordpress": {"persistence": {"accessMode": "ReadWriteOncePod"}}},
        "accessMode",
    ),
    ("misspelt key", {"woocommerce": {"verison": "1.0.0"}}, "verison"),
    ("partial resources", {"mariadb": {"resources": {"requests": {"cpu": "1"}}}}, "/mariadb/resources"),
    ("php size php would misread", {"php": {"uploadMaxSize": "64MB"}}, "/php/uploadMaxSize"),
    ("unlimited php memory", {"php": {"memoryLimit": "-1"}}, "/php/memoryLimit"),
    ("cron flag as a string", {"cron": {"enabled": "yes"}}, "/cron/enabled"),
    ("six-field cron schedule", {"cron": {"schedule": "0 * * * * *"}}, "/cron/schedule"),
    (
        "cron deadline the controller may never meet",
        {"cron": {"startingDeadlineSeconds": 5}},
        "/cron/startingDeadlineSeconds",
    ),
    (
        "issuer name with uppercase",
        {"environment": {"tls": {"clusterIssuer": "LetsEncrypt"}}},
        "/environment/tls/clusterIssuer",
    ),
]


@pytest.mark.parametrize(
    ("values", "pointer"), [(v, p) for _, v, p in BAD_VALUES], ids=[n for n, _, _ in BAD_VALUES]
)
def test_schema_rejects_bad_value_with_a_message_naming_it(
    helm: Helm, values: dict[str, Any], pointer: str
) -> None:
    result = helm.run(*helm.template_args("local", extra=values))
    assert result.returncode != 0
    assert "don't meet the specifications of the schema" in result.stderr
    assert pointer in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("release", "message"),
    [
        ("a-store-name-that-is-much-longer-than-forty-chars", "at most 40 characters"),
        ("1shop", "DNS-1035 label"),
    ],
)
def test_release_names_that_would_break_derived_names_are_refused(
    helm: Helm, release: str, message: str
) -> None:
    result = helm.run(*helm.template_args("local", release=release))
    assert result.returncode != 0
    assert message in result.stderr


def test_chart_defaults_alone_are_refused_because_the_store_id_is_required(helm: Helm) -> None:
    result = helm.run("template", RELEASE, str(CHART))
    assert result.returncode != 0
    assert "/store/id" in result.stderr
