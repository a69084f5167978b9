"""Relay-style connections: `edges { cursor node }` and `pageInfo { hasNextPage endCursor }`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from storeplane.graphql.types.page_info import PageInfo
from storeplane.pagination import Page

N = TypeVar("N")
M = TypeVar("M")


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page[M], convert: Callable[[M], N]) -> Connection[N]:
        return cls(
            edges=[
                Edge(cursor=cursor, node=convert(item))
                for item, cursor in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )
