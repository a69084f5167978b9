"""The dashboard's GraphQL operations (web/src/graphql/operations.graphql): benchmarks send what it sends."""

from __future__ import annotations

from functools import cache

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FragmentSpreadNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from bench.stack import REPO

OPERATIONS = REPO / "web" / "src" / "graphql" / "operations.graphql"


@cache
def _document() -> DocumentNode:
    return parse(OPERATIONS.read_text())


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def dashboard_document(*names: str) -> str:
    """The named operations and fragments, with every fragment they spread, as one document's text."""
    by_name = {
        definition.name.value: definition
        for definition in _document().definitions
        if isinstance(definition, ExecutableDefinitionNode) and definition.name is not None
    }
    wanted: list[str] = []
    pending = list(names)
    while pending:
        name = pending.pop(0)
        if name in wanted:
            continue
        if name not in by_name:
            raise KeyError(f"{OPERATIONS} has no operation or fragment {name!r}")
        wanted.append(name)
        spreads = _Spreads()
        visit(by_name[name], spreads)
        pending.extend(sorted(spreads.names))
    return "\n\n".join(print_ast(by_name[name]) for name in wanted)
