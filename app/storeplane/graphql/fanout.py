"""One execution of a subscription's selection per published payload, shared by the subscribers asking alike.

graphql-core executes a subscription's selection set once per subscriber per event: with hundreds of
dashboards open, one Kubernetes event costs hundreds of identical executions (most of the time per message).
The per-event executor here keys the result on what can change it: the document's operation, the variables
used below the root field, the caller's owner, and the payload itself. Subscribers that match on all four
share one `ExecutionResult`; its data is only read afterwards (serialised to each websocket), never mutated.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Hashable, Iterable
from typing import Any, cast
from weakref import WeakKeyDictionary

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    VariableNode,
    visit,
)
from graphql.language import Visitor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from storeplane.graphql.types.store import Store
from storeplane.graphql.types.store_event import StoreEvent

# Results kept; enough for every distinct subscription document of a burst of events, small in memory.
RESULT_CACHE_SIZE = 1024

_Key = tuple[int, tuple[tuple[str, str], ...], str | None, Hashable]
# Each entry holds the operation node and the payload's anchor so their ids stay theirs while cached.
_Entries = OrderedDict[_Key, tuple[OperationDefinitionNode, object, ExecutionResult]]


# Per schema: each app builds its own, so event ids of different databases (tests) never mix.
_by_schema: WeakKeyDictionary[GraphQLSchema, _Entries] = WeakKeyDictionary()
_nested_variables: dict[int, tuple[OperationDefinitionNode, frozenset[str] | None]] = {}


def _results_of(
    schema: GraphQLSchema,
) -> _Entries:
    results = _by_schema.get(schema)
    if results is None:
        results = _by_schema[schema] = OrderedDict()
    return results


class _VariableNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: object) -> None:
        self.names.add(node.name.value)


def nested_variables(
    operation: OperationDefinitionNode, fragments: Iterable[FragmentDefinitionNode]
) -> frozenset[str] | None:
    """Variables that can change how a payload renders; None when every variable may (no sharing then).

    The root field's own arguments pick which events a subscriber gets, not how one renders, so they are
    left out. Fragments are counted whole, wherever they are spread.
    """
    cached = _nested_variables.get(id(operation))
    if cached is not None and cached[0] is operation:
        return cached[1]
    collector = _VariableNames()
    names: frozenset[str] | None
    if all(isinstance(selection, FieldNode) for selection in operation.selection_set.selections):
        for selection in operation.selection_set.selections:
            field = cast(FieldNode, selection)
            for directive in field.directives or ():
                visit(directive, collector)
            if field.selection_set is not None:
                visit(field.selection_set, collector)
        for fragment in fragments:
            visit(fragment, collector)
        names = frozenset(collector.names)
    else:
        names = None
    if len(_nested_variables) >= RESULT_CACHE_SIZE:
        _nested_variables.clear()
    _nested_variables[id(operation)] = (operation, names)
    return names


def payload_key(payload: object) -> tuple[Hashable, object] | None:
    """A key for payloads whose rendering depends on nothing else, and the object to keep alive with it."""
    if isinstance(payload, StoreEvent):
        return ("event", payload.id), None  # events never change once recorded
    if isinstance(payload, Store):
        # A store changes: the same published snapshot (one frozen StoreRecord) is the unit.
        return ("store", id(payload.record)), payload.record
    return None


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with each subscription event's result shared across identical subscribers."""

    _event_key: _Key | None = None
    _anchor: object = None
    # The subscription's part of the key, computed at its first event (None: this subscription never shares).
    _request_key: tuple[int, tuple[tuple[str, str], ...], str | None] | None = None
    _request_key_known = False

    def build_per_event_executor(self, payload: Any) -> SharedEventExecutor:
        executor = cast(SharedEventExecutor, super().build_per_event_executor(payload))
        found = payload_key(payload)
        request = None if found is None else self._request()
        if found is not None and request is not None:
            executor._event_key = (*request, found[0])
            executor._anchor = found[1]
        return executor

    def _request(self) -> tuple[int, tuple[tuple[str, str], ...], str | None] | None:
        if not self._request_key_known:
            used = nested_variables(self.operation, self.fragment_definitions.values())
            if used is not None:
                owner = getattr(getattr(self.context_value, "caller", None), "owner", None)
                coerced = self.variable_values.coerced
                variables = tuple(sorted((name, repr(coerced.get(name))) for name in used))
                self._request_key = (id(self.operation), variables, owner)
            self._request_key_known = True
        return self._request_key

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._event_key
        if key is None:
            return super().execute_operation(serially)
        results = _results_of(self.schema)
        cached = results.get(key)
        if cached is not None and cached[0] is self.operation and cached[1] is self._anchor:
            results.move_to_end(key)
            return cached[2]
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._store_when_done(key, result)
        self._store(key, result)
        return result

    async def _store_when_done(self, key: _Key, pending: Awaitable[Any]) -> Any:
        result = await pending
        self._store(key, result)
        return result

    def _store(self, key: _Key, result: object) -> None:
        # Only clean results: errors are masked and logged per request, and a failure must not be replayed.
        if isinstance(result, ExecutionResult) and not result.errors:
            results = _results_of(self.schema)
            results[key] = (self.operation, self._anchor, result)
            if len(results) > RESULT_CACHE_SIZE:
                results.popitem(last=False)
