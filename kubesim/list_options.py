"""List and watch query parameters, read and validated as the API server does before it lists or watches.

The rules are apimachinery's `ValidateListOptions` (pkg/apis/meta/internalversion/validation); a request that
breaks one is a 422 Invalid `Status` about `ListOptions.meta.k8s.io`, with one cause per broken rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubesim import errors

NOT_OLDER_THAN = "NotOlderThan"
EXACT = "Exact"


def query_bool(value: str) -> bool:
    """A boolean query parameter as the API server converts it: only "0" and "false" (any case) are false."""
    return value != "0" and value.lower() != "false"


@dataclass(frozen=True)
class ListOptions:
    """The parameters that decide what a list or watch returns (selectors and paging are read elsewhere)."""

    watch: bool
    resource_version: str
    resource_version_match: str
    send_initial_events: bool | None
    """None when the parameter is absent: a watch then keeps the legacy behaviour (see `initial_events`)."""
    allow_watch_bookmarks: bool
    continue_token: str

    @property
    def initial_events(self) -> bool:
        """Whether a watch starts with an ADDED event for every existing object.

        Absent, sendInitialEvents defaults to true for resourceVersion "" or "0" and to false otherwise (the
        legacy watch); sendInitialEvents=false starts at the given version, or at the newest one without it.
        """
        if self.send_initial_events is not None:
            return self.send_initial_events
        return self.resource_version in ("", "0")

    @property
    def initial_events_end_bookmark(self) -> bool:
        """A watch-list (explicit sendInitialEvents=true with bookmarks) ends its initial events with a
        BOOKMARK annotated `k8s.io/initial-events-end: "true"`; the legacy watch never sends it."""
        return bool(self.send_initial_events) and self.allow_watch_bookmarks


def parse(query: Mapping[str, str], *, legacy_watch: bool) -> ListOptions:
    """Read the parameters (a `/watch/` path is a watch whatever `watch` says) and validate them."""
    send = query.get("sendInitialEvents")
    options = ListOptions(
        watch=legacy_watch or query_bool(query.get("watch", "false")),
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
        send_initial_events=None if send is None else query_bool(send),
        allow_watch_bookmarks=query_bool(query.get("allowWatchBookmarks", "false")),
        continue_token=query.get("continue", ""),
    )
    causes = _watch_causes(options) if options.watch else _list_causes(options)
    if causes:
        raise _invalid(causes)
    return options


def _list_causes(options: ListOptions) -> list[dict[str, str]]:
    causes = []
    match = options.resource_version_match
    if match:
        if not options.resource_version:
            causes.append(
                _forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        if options.continue_token:
            causes.append(
                _forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"
                )
            )
        if match not in (EXACT, NOT_OLDER_THAN):
            causes.append(_not_supported("resourceVersionMatch", match, (EXACT, NOT_OLDER_THAN, "")))
        if match == EXACT and options.resource_version == "0":
            causes.append(
                _forbidden(
                    "resourceVersionMatch",
                    'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )
            )
    if options.send_initial_events is not None:
        causes.append(_forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return causes


def _watch_causes(options: ListOptions) -> list[dict[str, str]]:
    causes = []
    match = options.resource_version_match
    if options.send_initial_events is not None and match != NOT_OLDER_THAN:
        causes.append(
            _forbidden(
                "resourceVersionMatch",
                f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}",
            )
        )
    if match:
        if options.send_initial_events is None:
            causes.append(
                _forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                )
            )
        if match != NOT_OLDER_THAN:
            causes.append(_not_supported("resourceVersionMatch", match, (NOT_OLDER_THAN,)))
        if options.continue_token:
            causes.append(
                _forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"
                )
            )
    return causes


def _forbidden(field: str, detail: str) -> dict[str, str]:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def _not_supported(field: str, value: str, supported: tuple[str, ...]) -> dict[str, str]:
    listed = ", ".join(f'"{s}"' for s in supported)
    message = f'Unsupported value: "{value}": supported values: {listed}'
    return {"reason": "FieldValueNotSupported", "message": message, "field": field}


def _invalid(causes: list[dict[str, str]]) -> errors.ApiError:
    # apimachinery's NewInvalid: one error is shown bare, several (deduplicated) inside brackets.
    shown = list(dict.fromkeys(f"{c['field']}: {c['message']}" for c in causes))
    summary = shown[0] if len(shown) == 1 else f"[{', '.join(shown)}]"
    details = {"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes}
    return errors.ApiError(
        422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {summary}', details=details
    )
