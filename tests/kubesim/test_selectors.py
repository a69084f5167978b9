"""Tests for label and field selector parsing and matching."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.selectors import (
    FieldSelector,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    field_value,
    label_selector_from_object,
    match_label_selector_object,
    parse_field_selector,
    parse_label_selector,
)

# --- Label selectors -----------------------------------------------------------------------------


def test_empty_label_selector_matches_everything() -> None:
    selector = parse_label_selector("")
    assert selector == LabelSelector()
    assert selector.empty
    assert selector.matches({})
    assert selector.matches({"a": "b"})
    assert selector.matches(None)
    assert parse_label_selector("   ").empty


@pytest.mark.parametrize("text", ["app=web", "app==web", " app = web "])
def test_equality_requirements_need_the_key_with_that_value(text: str) -> None:
    selector = parse_label_selector(text)
    assert selector.matches({"app": "web", "x": "y"})
    assert not selector.matches({"app": "db"})
    assert not selector.matches({})


def test_double_equals_is_kept_as_its_own_operator() -> None:
    assert parse_label_selector("app==web").requirements == (
        Requirement("app", Operator.DOUBLE_EQUALS, ("web",)),
    )


def test_not_equals_matches_objects_without_the_label() -> None:
    selector = parse_label_selector("env!=prod")
    assert selector.matches({"env": "dev"})
    assert selector.matches({})
    assert not selector.matches({"env": "prod"})


def test_in_requires_one_of_the_values() -> None:
    selector = parse_label_selector("tier in (front, back)")
    assert selector.requirements == (Requirement("tier", Operator.IN, ("back", "front")),)
    assert selector.matches({"tier": "back"})
    assert not selector.matches({"tier": "db"})
    assert not selector.matches({})


def test_notin_matches_other_values_and_missing_labels() -> None:
    selector = parse_label_selector("tier notin (front,back)")
    assert selector.matches({"tier": "db"})
    assert selector.matches({})
    assert not selector.matches({"tier": "front"})


def test_bare_key_requires_the_label_to_exist() -> None:
    selector = parse_label_selector("managed")
    assert selector.requirements == (Requirement("managed", Operator.EXISTS),)
    assert selector.matches({"managed": ""})
    assert not selector.matches({"other": "x"})


def test_bang_key_requires_the_label_to_be_absent() -> None:
    selector = parse_label_selector("!managed")
    assert selector.requirements == (Requirement("managed", Operator.DOES_NOT_EXIST),)
    assert selector.matches({"other": "x"})
    assert not selector.matches({"managed": "yes"})


def test_greater_and_less_than_compare_integer_labels() -> None:
    selector = parse_label_selector("gen>2,gen<10")
    assert selector.matches({"gen": "5"})
    assert not selector.matches({"gen": "2"})
    assert not selector.matches({"gen": "10"})
    assert not selector.matches({"gen": "five"})
    assert not selector.matches({})


def test_requirements_are_anded_and_keys_may_have_a_dns_prefix() -> None:
    selector = parse_label_selector("storeplane.io/store-id=s1,app.kubernetes.io/name in (wordpress),!skip")
    assert selector.matches({"storeplane.io/store-id": "s1", "app.kubernetes.io/name": "wordpress"})
    assert not selector.matches({"storeplane.io/store-id": "s2", "app.kubernetes.io/name": "wordpress"})
    assert not selector.matches(
        {"storeplane.io/store-id": "s1", "app.kubernetes.io/name": "wordpress", "skip": ""}
    )


def test_whitespace_around_tokens_is_ignored() -> None:
    selector = parse_label_selector(" a = 1 ,\tb in ( x , y ) , ! c ")
    assert str(selector) == "a=1,b in (x,y),!c"


def test_requirements_are_sorted_by_key_in_the_canonical_string() -> None:
    assert str(parse_label_selector("z=1,a notin (b,a),m")) == "a notin (a,b),m,z=1"


def test_empty_value_after_equals_selects_the_empty_label() -> None:
    selector = parse_label_selector("a=,b")
    assert selector.requirements[0] == Requirement("a", Operator.EQUALS, ("",))
    assert selector.matches({"a": "", "b": "x"})
    assert not selector.matches({"a": "x", "b": "x"})
    assert not selector.matches({"b": "x"})


def test_empty_slots_in_a_value_set_are_the_empty_value() -> None:
    assert parse_label_selector("a in ()").requirements[0].values == ("",)
    assert parse_label_selector("a in (x,,y)").requirements[0].values == ("", "x", "y")
    assert parse_label_selector("a in (,x)").requirements[0].values == ("", "x")
    assert parse_label_selector("a in (x,)").requirements[0].values == ("", "x")


def test_in_and_notin_are_plain_words_where_values_stand() -> None:
    selector = parse_label_selector("in in (in,notin)")
    assert selector.requirements == (Requirement("in", Operator.IN, ("in", "notin")),)
    assert selector.matches({"in": "notin"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=b,", "expected: identifier after ','"),
        (",a", "expected: !, identifier"),
        ("a=b c", "expected: ',' or 'end of string'"),
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("a in x", "expected: '\\('"),
        ("a in (x", "expected: ',', '\\)' or identifier"),
        ("a in (x y)", "found 'y'"),
        ("a (x)", "expected: '=', '!=', '==', 'in', 'notin'"),
        ("!", "expected: identifier"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=(", "found '\\(', expected: identifier"),
        ("-bad=x", "invalid label key"),
        ("UPPER.example/x=1", "prefix part"),
        (f"{'k' * 64}=1", "no more than 63"),
        ("/x=1", "prefix part"),
        ("a/=1", "name part must be non-empty"),
        ("a=-bad-", "invalid label value"),
        (f"a={'v' * 64}", "invalid label value"),
        ("a>x", "integer value"),
        ("a<", "integer value"),
    ],
)
def test_bad_label_selectors_raise_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_label_selector(text)


def test_selector_error_is_a_value_error() -> None:
    assert issubclass(SelectorError, ValueError)


def test_requirements_validate_their_value_counts() -> None:
    with pytest.raises(SelectorError, match="can't be empty"):
        Requirement("a", Operator.IN, ())
    with pytest.raises(SelectorError, match="one single value"):
        Requirement("a", Operator.EQUALS, ("x", "y"))
    with pytest.raises(SelectorError, match="must be empty"):
        Requirement("a", Operator.EXISTS, ("x",))


# --- metav1.LabelSelector objects ----------------------------------------------------------------


def test_match_labels_object_requires_every_label() -> None:
    selector = {"matchLabels": {"app": "web", "storeplane.io/store-id": "s1"}}
    assert match_label_selector_object(selector, {"app": "web", "storeplane.io/store-id": "s1", "pod": "x"})
    assert not match_label_selector_object(selector, {"app": "web"})


@pytest.mark.parametrize(
    ("expression", "matching", "not_matching"),
    [
        ({"key": "tier", "operator": "In", "values": ["a", "b"]}, {"tier": "b"}, {"tier": "c"}),
        ({"key": "tier", "operator": "NotIn", "values": ["a"]}, {}, {"tier": "a"}),
        ({"key": "tier", "operator": "Exists"}, {"tier": ""}, {}),
        ({"key": "tier", "operator": "DoesNotExist"}, {}, {"tier": "a"}),
    ],
)
def test_match_expressions_object_supports_each_operator(
    expression: dict[str, Any], matching: dict[str, str], not_matching: dict[str, str]
) -> None:
    selector = {"matchExpressions": [expression]}
    assert match_label_selector_object(selector, matching)
    assert not match_label_selector_object(selector, not_matching)


def test_match_labels_and_expressions_are_anded() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}],
    }
    assert match_label_selector_object(selector, {"app": "web"})
    assert not match_label_selector_object(selector, {"app": "web", "canary": "1"})


def test_empty_selector_object_matches_everything_and_null_matches_nothing() -> None:
    assert match_label_selector_object({}, {"a": "b"})
    assert match_label_selector_object({"matchLabels": None, "matchExpressions": None}, {})
    assert not match_label_selector_object(None, {"a": "b"})


def test_selector_object_converts_to_the_string_form() -> None:
    selector = label_selector_from_object(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}],
        }
    )
    assert str(selector) == "app=web,env in (a,b)"
    assert parse_label_selector(str(selector)).matches({"app": "web", "env": "a"})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}, "not a valid"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "must be empty"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "invalid label key"),
        ({"matchExpressions": ["a"]}, "must be a map"),
        ({"matchExpressions": {"a": 1}}, "must be a list"),
        ({"matchLabels": ["a"]}, "map of strings"),
        ({"matchLabels": {"a": "-x-"}}, "invalid label value"),
    ],
)
def test_invalid_selector_objects_raise_selector_errors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        match_label_selector_object(selector, {})


# --- Field selectors -----------------------------------------------------------------------------

_EVENT = {
    "metadata": {"name": "e1", "namespace": "store-1"},
    "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "store-1", "uid": "u-1"},
    "type": "Warning",
    "reason": "BackOff",
}


def test_empty_field_selector_matches_everything() -> None:
    selector = parse_field_selector("")
    assert selector == FieldSelector()
    assert selector.empty
    assert selector.matches(_EVENT)
    assert selector.fields() == set()


@pytest.mark.parametrize(
    "text",
    [
        "metadata.name=e1",
        "metadata.namespace==store-1",
        "involvedObject.kind=Pod,involvedObject.name=web-0",
        "involvedObject.namespace=store-1,involvedObject.uid=u-1",
        "type=Warning,reason=BackOff",
        "type!=Normal",
    ],
)
def test_field_selectors_match_dotted_paths(text: str) -> None:
    assert parse_field_selector(text).matches(_EVENT)


@pytest.mark.parametrize(
    "text", ["metadata.name=e2", "type!=Warning", "involvedObject.kind=Pod,reason=Pulled"]
)
def test_field_selectors_reject_other_values(text: str) -> None:
    assert not parse_field_selector(text).matches(_EVENT)


def test_missing_fields_compare_as_empty_strings() -> None:
    pod = {"metadata": {"name": "p"}, "status": {}}
    assert parse_field_selector("spec.nodeName=").matches(pod)
    assert parse_field_selector("status.phase!=Running").matches(pod)
    assert not parse_field_selector("spec.nodeName=node-1").matches(pod)


def test_field_values_of_other_json_types_read_as_go_formats_them() -> None:
    node = {"spec": {"unschedulable": True, "count": 3}, "status": {"phase": None}}
    assert field_value(node, "spec.unschedulable") == "true"
    assert field_value({"spec": {"unschedulable": False}}, "spec.unschedulable") == "false"
    assert field_value(node, "spec.count") == "3"
    assert field_value(node, "status.phase") == ""
    assert field_value(node, "spec.unschedulable.deeper") == ""


def test_field_selector_reports_the_fields_it_names() -> None:
    selector = parse_field_selector("spec.nodeName=n1,status.phase!=Failed,metadata.name=x")
    assert selector.fields() == {"spec.nodeName", "status.phase", "metadata.name"}


def test_field_selector_value_escapes_allow_commas_equals_and_backslashes() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d,type=x")
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}, "type": "x"})
    assert selector.fields() == {"metadata.name", "type"}


def test_field_selector_skips_empty_terms() -> None:
    selector = parse_field_selector("metadata.name=e1,,")
    assert len(selector.requirements) == 1
    assert selector.matches(_EVENT)


def test_field_selector_splits_at_the_first_operator() -> None:
    selector = parse_field_selector("a!=b")
    assert selector.requirements[0].field == "a"
    assert selector.requirements[0].operator is Operator.NOT_EQUALS
    assert parse_field_selector("a==b").requirements[0].value == "b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "can't understand 'metadata.name'"),
        ("a=b,c", "can't understand 'c'"),
        ("a=b=c", "unescaped character in value: '='"),
        (r"a=b\x", "invalid escape sequence"),
        ("a=b\\", "invalid escape sequence: \\\\$"),
    ],
)
def test_bad_field_selectors_raise_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_field_selector(text)
