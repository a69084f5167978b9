"""Errors a client may see, and the masking of every other one behind an id that the server log holds."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

log = logging.getLogger(__name__)


class ClientError(Exception):
    """An error whose message is meant for the client (bad cursor, store not found in a query, ...)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        # graphql-core copies an original error's `extensions` into the error the client receives.
        self.extensions = {"code": code}


def _where(error: GraphQLError) -> str:
    return ".".join(str(part) for part in error.path or ()) or "(operation)"


class Schema(strawberry.Schema):
    """strawberry.Schema, except that an error meant for the client is logged as one line, not a traceback.

    Strawberry logs every error of a result at ERROR, with the original exception's traceback, before
    MaskInternalErrors sees it. A ClientError (a forged cursor, an unknown store) is an answer, not a fault:
    it gets one INFO line, so that what clients send cannot fill the log with tracebacks. Other errors are
    logged as Strawberry logs them.
    """

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        faults = []
        for error in errors:
            original = error.original_error
            if isinstance(original, ClientError):
                log.info("client error %s at %s: %s", original.extensions["code"], _where(error), original)
            else:
                faults.append(error)
        super().process_errors(faults, execution_context)


def _is_internal(error: GraphQLError) -> bool:
    # Errors without an original exception come from graphql-core itself (syntax, validation, the depth,
    # token and alias limits): they describe the request, not the server, and are shown as they are.
    original = error.original_error
    return original is not None and not isinstance(original, ClientError | GraphQLError)


class MaskInternalErrors(MaskErrors):
    """Replaces internal errors by "Internal error (id ...)" and logs the original with the same id."""

    def __init__(self, should_mask_error: Callable[[GraphQLError], bool] = _is_internal) -> None:
        super().__init__(should_mask_error=should_mask_error)

    def _process_result(self, result: object) -> None:
        # The base class asks isinstance() of a runtime-checkable Protocol for every result, which costs more
        # than the rest of a subscription message's masking; reading the attribute does the same job.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        error_id = secrets.token_hex(6)
        original = error.original_error
        log.error(
            "internal error %s at %s",
            error_id,
            _where(error),
            exc_info=(type(original), original, original.__traceback__) if original is not None else None,
        )
        return GraphQLError(
            message=f"Internal error (id {error_id})",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL", "errorId": error_id},
        )
