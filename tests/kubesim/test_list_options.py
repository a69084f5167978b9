"""List and watch parameters, validated as apimachinery's ValidateListOptions does (422 about ListOptions)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kubesim.errors import ApiError
from kubesim.list_options import ListOptions, parse, query_bool
from kubesim.process import KubesimProcess

WATCH_LIST = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
INVALID = 'ListOptions.meta.k8s.io "" is invalid:'
TRUE_VALUES = [("true", True), ("1", True), ("True", True), ("yes", True), ("", True)]
NEEDS_NOT_OLDER_THAN = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"


@pytest.mark.parametrize(
    ("value", "expected"),
    [*TRUE_VALUES, ("false", False), ("False", False), ("FALSE", False), ("0", False)],
)
def test_boolean_parameters_are_false_only_for_0_and_false(value: str, expected: bool) -> None:
    assert query_bool(value) is expected


def _options(**query: str) -> ListOptions:
    return parse(query, legacy_watch=False)


def _causes(**query: str) -> list[dict[str, str]]:
    with pytest.raises(ApiError) as raised:
        _options(**query)
    assert (raised.value.code, raised.value.reason) == (422, "Invalid")
    details = raised.value.details or {}
    assert (details["group"], details["kind"]) == ("meta.k8s.io", "ListOptions")
    causes: list[dict[str, str]] = details["causes"]
    return causes


def test_a_watch_list_is_valid_and_ends_its_initial_events_with_a_bookmark() -> None:
    options = _options(watch="true", sendInitialEvents="true", resourceVersionMatch="NotOlderThan")
    assert options.initial_events
    assert not options.initial_events_end_bookmark  # only with allowWatchBookmarks
    options = parse(dict(p.split("=") for p in WATCH_LIST.split("&")), legacy_watch=False)
    assert (options.initial_events, options.initial_events_end_bookmark) == (True, True)


@pytest.mark.parametrize(
    ("resource_version", "send", "initial"),
    [("", None, True), ("0", None, True), ("42", None, False), ("", "false", False), ("42", "true", True)],
)
def test_initial_events_default_to_the_legacy_watch_unless_asked(
    resource_version: str, send: str | None, initial: bool
) -> None:
    query = {"watch": "1", "resourceVersion": resource_version}
    if send is not None:
        query |= {"sendInitialEvents": send, "resourceVersionMatch": "NotOlderThan"}
    options = parse(query, legacy_watch=False)
    assert options.initial_events is initial
    assert not options.initial_events_end_bookmark


def test_a_legacy_watch_path_is_a_watch_whatever_the_parameter_says() -> None:
    assert parse({"watch": "false"}, legacy_watch=True).watch


def test_send_initial_events_needs_not_older_than() -> None:
    assert _causes(watch="true", sendInitialEvents="true") == [
        {
            "reason": "FieldValueForbidden",
            "message": f"Forbidden: {NEEDS_NOT_OLDER_THAN}",
            "field": "resourceVersionMatch",
        }
    ]


def test_resource_version_match_on_a_watch_needs_send_initial_events_and_not_older_than() -> None:
    messages = [c["message"] for c in _causes(watch="true", resourceVersionMatch="Exact")]
    assert messages == [
        "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        'Unsupported value: "Exact": supported values: "NotOlderThan"',
    ]


def test_list_rules_follow_apimachinery() -> None:
    assert [c["message"] for c in _causes(sendInitialEvents="true")] == [
        "Forbidden: sendInitialEvents is forbidden for list"
    ]
    assert [c["message"] for c in _causes(resourceVersionMatch="NotOlderThan")] == [
        "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
    ]
    assert [c["message"] for c in _causes(resourceVersion="0", resourceVersionMatch="Exact")] == [
        'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
    ]
    assert [c["message"] for c in _causes(resourceVersion="5", resourceVersionMatch="Newest")] == [
        'Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'
    ]
    assert _options(resourceVersion="5", resourceVersionMatch="NotOlderThan").resource_version == "5"


async def _get(kubesim: KubesimProcess, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{kubesim.url}{path}") as response:
        return response.status, await response.json()


async def test_an_invalid_watch_is_a_422_status_about_list_options(kubesim: KubesimProcess) -> None:
    code, status = await _get(
        kubesim, "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true"
    )
    assert code == 422
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"{INVALID} resourceVersionMatch: Forbidden: {NEEDS_NOT_OLDER_THAN}",
        "reason": "Invalid",
        "code": 422,
        "details": {
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [
                {
                    "reason": "FieldValueForbidden",
                    "message": f"Forbidden: {NEEDS_NOT_OLDER_THAN}",
                    "field": "resourceVersionMatch",
                }
            ],
        },
    }


async def test_several_broken_rules_are_listed_in_brackets(kubesim: KubesimProcess) -> None:
    code, status = await _get(kubesim, "/api/v1/pods?resourceVersionMatch=Newest&sendInitialEvents=false")
    assert code == 422
    assert status["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is '
        'forbidden unless resourceVersion is provided, resourceVersionMatch: Unsupported value: "Newest": '
        'supported values: "Exact", "NotOlderThan", "", sendInitialEvents: Forbidden: sendInitialEvents is '
        "forbidden for list]"
    )
    assert [c["field"] for c in status["details"]["causes"]] == [
        "resourceVersionMatch",
        "resourceVersionMatch",
        "sendInitialEvents",
    ]
