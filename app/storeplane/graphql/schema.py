"""The schema: the root types and the extensions that bound what one request may cost."""

from __future__ import annotations

from functools import partial

from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from storeplane.graphql.errors import MaskInternalErrors, Schema
from storeplane.graphql.fanout import SharedEventExecutor
from storeplane.graphql.mutations import Mutation
from storeplane.graphql.queries import Query
from storeplane.graphql.subscriptions import Subscription
from storeplane.settings import Settings

# Distinct documents whose parse and validation results are kept (LRU); clients send a handful of
# fixed documents, and the bound keeps arbitrary query texts from growing memory.
DOCUMENT_CACHE_SIZE = 256


def build_schema(settings: Settings) -> Schema:
    # The limiters' rule classes are built once: each limiter instance makes a new class, and a new class
    # per request would make every validation cache key unique (the cache would never hit).
    rules = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    ]
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        execution_context_class=SharedEventExecutor,
        # Factories, not instances: Strawberry builds fresh extensions for every operation.
        extensions=[
            partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
            partial(ParserCache, maxsize=DOCUMENT_CACHE_SIZE),
            partial(AddValidationRules, rules),
            partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
            MaskInternalErrors,
        ],
    )


def schema_sdl(settings: Settings) -> str:
    """The SDL that `storeplane export-schema` writes to schema.graphql."""
    return build_schema(settings).as_str() + "\n"
