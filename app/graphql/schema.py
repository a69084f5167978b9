"""The schema: the root types and the extensions that bound what one request may cost."""

from __future__ import annotations

from functools import partial

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from app.graphql.errors import MaskInternalErrors
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.subscriptions import Subscription
from app.settings import Settings


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Factories, not instances: Strawberry builds fresh extensions for every operation.
        extensions=[
            partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
            partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
            partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
            MaskInternalErrors,
        ],
    )


def schema_sdl(settings: Settings) -> str:
    """The SDL that `storeplane export-schema` writes to schema.graphql."""
    return build_schema(settings).as_str() + "\n"
