"""uvicorn's access lines without query strings: a sign-in code (or a pasted token) never reaches a log."""

from __future__ import annotations

import logging

HIDDEN = "?[query hidden]"


class QueryStringFilter(logging.Filter):
    """Cuts the query string off every path argument of a record (uvicorn logs paths as `%s` arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_has_query(arg) for arg in record.args):
            record.args = tuple(_without_query(arg) for arg in record.args)
        return True


def _has_query(arg: object) -> bool:
    return isinstance(arg, str) and arg.startswith("/") and "?" in arg


def _without_query(arg: object) -> object:
    return arg.partition("?")[0] + HIDDEN if isinstance(arg, str) and _has_query(arg) else arg


_FILTER = QueryStringFilter()


def hide_query_strings() -> None:
    """Install the filter on uvicorn's loggers (access lines, and websocket handshakes on uvicorn.error)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(_FILTER)
