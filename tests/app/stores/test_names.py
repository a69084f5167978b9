from __future__ import annotations

import re

import pytest

from storeplane.stores.names import (
    MAX_NAME_LENGTH,
    NameRule,
    derived_namespace,
    namespace_for,
    validate_store_name,
)

DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("name", ["shop", "demo-shop", "a", "shop2", "my-2nd-shop", "x" * MAX_NAME_LENGTH])
def test_valid_names_pass(name: str) -> None:
    assert validate_store_name(name) is None


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", NameRule.REQUIRED),
        ("x" * (MAX_NAME_LENGTH + 1), NameRule.TOO_LONG),
        ("Shop", NameRule.LOWERCASE),
        ("my_shop", NameRule.CHARACTERS),
        ("my.shop", NameRule.CHARACTERS),
        ("shop ", NameRule.CHARACTERS),
        ("shop$(reboot)", NameRule.CHARACTERS),
        ("bücher", NameRule.CHARACTERS),
        ("2shop", NameRule.START),
        ("-shop", NameRule.START),
        ("shop-", NameRule.END),
        ("default", NameRule.RESERVED),
        ("kube-system", NameRule.RESERVED),
        ("admin", NameRule.RESERVED),
        ("www", NameRule.RESERVED),
        ("storeplane", NameRule.RESERVED),
    ],
)
def test_invalid_names_name_the_broken_rule(name: str, rule: NameRule) -> None:
    violation = validate_store_name(name)
    assert violation is not None
    assert violation.rule is rule
    assert violation.message


def test_messages_do_not_repeat_a_long_name() -> None:
    name = "a" * 500
    violation = validate_store_name(name)
    assert violation is not None
    assert name not in violation.message


def test_the_longest_name_fits_the_chart_and_every_namespace_form() -> None:
    name = "x" * MAX_NAME_LENGTH
    assert MAX_NAME_LENGTH == 40  # the WooCommerce chart's limit for release names
    assert len(namespace_for(name)) <= 63
    assert len(derived_namespace(name)) <= 63


def test_namespace_is_prefixed_and_a_derivative_adds_four_random_characters() -> None:
    assert namespace_for("shop") == "store-shop"
    assert derived_namespace("shop", suffix="ab12") == "store-shop-ab12"
    drawn = {derived_namespace("shop") for _ in range(50)}
    assert len(drawn) > 1
    for namespace in drawn:
        assert re.fullmatch(r"store-shop-[a-z2-9]{4}", namespace)
        assert DNS_1035_LABEL.fullmatch(namespace)
