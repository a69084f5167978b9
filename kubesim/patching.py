"""The PATCH body formats the API server accepts: JSON merge, JSON patch, strategic merge and apply.

Known deviations from the real API server:

- Strategic merge patch picks a list's merge key from the list's field name (and, for ``ports``,
  where the list sits), a name-based approximation of the OpenAPI patch metadata
  (``x-kubernetes-patch-merge-key``). A field of another type that happens to share one of
  these names is merged the same way; every other list is replaced.
- ``$patch: delete`` inside a map removes the field; the real server leaves an empty map there,
  which its JSON output then omits for the usual optional (omitempty) fields.
- Error messages differ in wording from the real server's; the conditions that raise agree.
- Server-side apply tracks no field ownership per manager: the caller passes what the same
  manager applied last time, fields it no longer applies are pruned even if another manager
  also set them, and conflicts between managers are never reported.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, Final

DIRECTIVE: Final = "$patch"
RETAIN_KEYS: Final = "$retainKeys"
SET_ELEMENT_ORDER: Final = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST: Final = "$deleteFromPrimitiveList/"

_CONTAINER_LISTS: Final = frozenset({"containers", "initContainers", "ephemeralContainers"})

# Merge keys by list field name, from the +patchMergeKey tags of k8s.io/api core/v1 and meta/v1.
_MERGE_KEYS: Final[dict[str, str]] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "conditions": "type",
    "ownerReferences": "uid",
}


class PatchError(ValueError):
    """A patch that cannot be applied; the server answers it with 422 or 400."""


class _Deleted:
    """Marks a map that a `$patch: delete` directive removed."""


_DELETED: Final = _Deleted()


# --- RFC 7386 JSON merge patch -------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch: maps merge recursively, null deletes, all else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 JSON patch -------------------------------------------------------------------------


def json_equal(left: Any, right: Any) -> bool:
    """JSON value equality: unlike Python's ==, true is not 1 and 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and bool(left == right)


def _parse_pointer(pointer: Any) -> list[str]:
    if not isinstance(pointer, str):
        raise PatchError(f"JSON pointer must be a string, not {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON pointer {pointer!r} must start with '/'")
    tokens = []
    for raw in pointer[1:].split("/"):
        # RFC 6901: "~1" is "/" and "~0" is "~"; a "~" followed by anything else is malformed.
        if "~" in raw.replace("~0", "").replace("~1", ""):
            raise PatchError(f"JSON pointer {pointer!r} has an invalid '~' escape")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _list_index(token: str, length: int, pointer: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    # RFC 6901 indices are decimal without leading zeros; "-" only names the slot after the end.
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PatchError(f"invalid array index {token!r} in {pointer!r}")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise PatchError(f"array index {index} out of bounds in {pointer!r}")
    return index


def _resolve(doc: Any, tokens: Sequence[str], pointer: str) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path {pointer!r} does not exist: missing key {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_list_index(token, len(node), pointer, allow_end=False)]
        else:
            raise PatchError(f"path {pointer!r} does not exist: {token!r} is inside a scalar")
    return node


def _add(doc: Any, tokens: list[str], value: Any, pointer: str) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(last, len(parent), pointer, allow_end=True), value)
    else:
        raise PatchError(f"cannot add at {pointer!r}: parent is not an object or array")
    return doc


def _remove(doc: Any, tokens: list[str], pointer: str) -> Any:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"cannot remove {pointer!r}: path does not exist")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_list_index(last, len(parent), pointer, allow_end=False))
    raise PatchError(f"cannot remove {pointer!r}: parent is not an object or array")


def _replace(doc: Any, tokens: list[str], value: Any, pointer: str) -> Any:
    # Unlike add, replace needs the target to exist already (RFC 6902 section 4.3).
    _resolve(doc, tokens, pointer)
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], pointer)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    else:
        parent[_list_index(tokens[-1], len(parent), pointer, allow_end=False)] = value
    return doc


def _required(op: dict[str, Any], field: str) -> Any:
    if field not in op:
        raise PatchError(f"operation {op.get('op')!r} is missing {field!r}: {op!r}")
    return op[field]


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply an RFC 6902 JSON patch to a copy of target; any failing operation raises PatchError."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be an array of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(f"a JSON patch operation must be an object, not {op!r}")
        name = _required(op, "op")
        pointer = _required(op, "path")
        tokens = _parse_pointer(pointer)
        if name == "add":
            doc = _add(doc, tokens, copy.deepcopy(_required(op, "value")), pointer)
        elif name == "remove":
            _remove(doc, tokens, pointer)
        elif name == "replace":
            doc = _replace(doc, tokens, copy.deepcopy(_required(op, "value")), pointer)
        elif name in ("move", "copy"):
            source = _required(op, "from")
            from_tokens = _parse_pointer(source)
            if name == "move":
                if tokens[: len(from_tokens)] == from_tokens and len(tokens) > len(from_tokens):
                    raise PatchError(f"cannot move {source!r} into its own child {pointer!r}")
                if from_tokens == tokens:
                    _resolve(doc, tokens, pointer)
                    continue
                value = _resolve(doc, from_tokens, source)
                _remove(doc, from_tokens, source)
            else:
                value = copy.deepcopy(_resolve(doc, from_tokens, source))
            doc = _add(doc, tokens, value, pointer)
        elif name == "test":
            expected = _required(op, "value")
            if not json_equal(_resolve(doc, tokens, pointer), expected):
                raise PatchError(f"test operation failed: {pointer!r} is not {expected!r}")
        else:
            raise PatchError(f"unknown JSON patch operation {name!r}")
    return doc


# --- Strategic merge patch -----------------------------------------------------------------------


def _list_strategy(path: tuple[str, ...], kind: str) -> tuple[bool, str | None]:
    """Whether the list at path merges, and by which key (None merges a list of scalars as a set)."""
    field = path[-1] if path else ""
    parent = path[-2] if len(path) > 1 else ""
    if field == "finalizers" and parent == "metadata":
        # ObjectMeta.finalizers is `patchStrategy=merge` without a key: a set of strings.
        return True, None
    if field == "ports":
        if parent in _CONTAINER_LISTS:
            return True, "containerPort"
        if kind == "Service" and path == ("spec", "ports"):
            return True, "port"
        return False, None
    if field == "secrets" and kind == "ServiceAccount" and path == ("secrets",):
        return True, "name"
    if field in _MERGE_KEYS:
        return True, _MERGE_KEYS[field]
    return False, None


def clean(value: Any) -> Any:
    """Copy value without nulls in maps, `$`-prefixed directive keys, or elements deleted by `$patch`."""
    if isinstance(value, dict):
        return {
            k: clean(v)
            for k, v in value.items()
            if v is not None and not k.startswith("$") and not _is_directive_map(v, "delete")
        }
    if isinstance(value, list):
        return [clean(v) for v in value if not (isinstance(v, dict) and DIRECTIVE in v)]
    return value


def _is_directive_map(value: Any, directive: str) -> bool:
    return isinstance(value, dict) and value.get(DIRECTIVE) == directive


def _directive_list(patch: dict[str, Any], key: str) -> list[Any]:
    value = patch[key]
    if not isinstance(value, list):
        raise PatchError(f"{key} must be a list, not {value!r}")
    return value


def _contains(items: Iterable[Any], value: Any) -> bool:
    return any(json_equal(item, value) for item in items)


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...], kind: str, *, apply: bool
) -> dict[str, Any] | _Deleted:
    """Merge patch into a copy of original; apply mode ignores directives and nulls (SSA has neither)."""
    if not apply and DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == "replace":
            replaced: dict[str, Any] = clean(patch)
            return replaced
        if directive == "delete":
            return _DELETED
        if directive != "merge":
            raise PatchError(f"unknown patch type {directive!r} in map at {'.'.join(path) or '<root>'}")
    result = dict(original)
    if not apply and RETAIN_KEYS in patch:
        retained = _directive_list(patch, RETAIN_KEYS)
        for key, value in patch.items():
            # The server refuses a patch that sets a field its own retainKeys list would drop.
            if value is not None and not key.startswith("$") and key not in retained:
                raise PatchError(f"field {key!r} is set in the patch but missing from $retainKeys")
        result = {k: v for k, v in result.items() if k in retained}
    orders: dict[str, list[Any]] = {}
    for key in () if apply else patch:
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            # The parallel deletion list is applied to the live list before the patch's own list merges.
            field = key[len(DELETE_FROM_PRIMITIVE_LIST) :]
            doomed = _directive_list(patch, key)
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if not _contains(doomed, v)]
        elif key.startswith(SET_ELEMENT_ORDER):
            orders[key[len(SET_ELEMENT_ORDER) :]] = _directive_list(patch, key)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            if not apply:
                result.pop(key, None)
            continue
        live = result.get(key)
        if isinstance(value, dict):
            merged = _merge_map(
                live if isinstance(live, dict) else {}, value, (*path, key), kind, apply=apply
            )
            if isinstance(merged, _Deleted):
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            live_list = live if isinstance(live, list) else []
            result[key] = _merge_list(
                live_list, value, (*path, key), kind, orders.pop(key, None), apply=apply
            )
        else:
            result[key] = value
    for key, order in orders.items():
        # kubectl sends $setElementOrder for every list it diffed, even ones the patch leaves alone.
        live = result.get(key)
        if isinstance(live, list):
            merges, merge_key = _list_strategy((*path, key), kind)
            if merges:
                result[key] = _normalize_order(live, order, live, merge_key)
    return result


def _merge_list(
    original: list[Any],
    patch: list[Any],
    path: tuple[str, ...],
    kind: str,
    order: list[Any] | None,
    *,
    apply: bool,
) -> list[Any]:
    merges, merge_key = _list_strategy(path, kind)
    if merge_key is None and any(isinstance(v, dict | list) for v in patch):
        # A field named like a set of strings that holds something else is replaced whole.
        merges = False
    if merge_key is not None and any(not isinstance(v, dict) for v in patch):
        # The name-based merge key guessed wrong (e.g. a custom resource's own `volumes` list).
        merges = False
    if not merges:
        replaced: list[Any] = clean(patch)
        return replaced
    if merge_key is None:
        union = [v for i, v in enumerate(original) if not _contains(original[:i], v)]
        for value in patch:
            if not _contains(union, value):
                union.append(value)
        return _normalize_order(union, order or patch, original, None)
    if any(not isinstance(v, dict) for v in original):
        # A live list of the wrong shape cannot be merged into; the patch's list takes its place.
        original = []
    working = list(original)
    plain: list[dict[str, Any]] = []
    replace = False
    for element in patch:
        directive = None if apply else element.get(DIRECTIVE)
        if directive is None:
            plain.append(element)
        elif directive == "delete":
            if merge_key not in element:
                raise PatchError(f"$patch: delete element {element!r} lacks merge key {merge_key!r}")
            working = [o for o in working if not json_equal(o.get(merge_key), element[merge_key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            # The real server refuses this too: "merging lists cannot yet be specified in the patch".
            raise PatchError(f"$patch: merge is not supported in list {'.'.join(path)}")
        else:
            raise PatchError(f"unknown patch type {directive!r} in list {'.'.join(path)}")
    if replace:
        return [clean(v) for v in plain]
    if apply and any(merge_key not in element for element in plain):
        # Apply has no merge-key errors: a list the guessed key does not fit is simply replaced.
        return [clean(v) for v in plain]
    for element in plain:
        if merge_key not in element:
            raise PatchError(f"element {element!r} of {'.'.join(path)} lacks merge key {merge_key!r}")
        index = next(
            (
                i
                for i, o in enumerate(working)
                if merge_key in o and json_equal(o[merge_key], element[merge_key])
            ),
            None,
        )
        base = working[index] if index is not None else {}
        merged = _merge_map(base, element, path, kind, apply=apply)
        # An element is never deleted here: delete directives were consumed above.
        assert isinstance(merged, dict)
        if index is None:
            working.append(merged)
        else:
            working[index] = merged
    return _normalize_order(working, order or plain, original, merge_key)


def _normalize_order(
    merged: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str | None,
) -> list[Any]:
    """Order a merged list as the real server does: patch order first, live order for the rest.

    Items named by the patch keep the patch's (or $setElementOrder's) order, live-only items keep
    the live order, and a live-only item goes before a patch item only when both are live and it
    comes first there. So a brand-new item lands ahead of untouched live items, as in Kubernetes.
    """

    def identity(item: Any) -> Any:
        return item.get(merge_key) if merge_key is not None and isinstance(item, dict) else item

    def position(items: list[Any], item: Any) -> int:
        wanted = identity(item)
        return next((i for i, o in enumerate(items) if json_equal(identity(o), wanted)), -1)

    in_patch = [m for m in merged if position(patch_order, m) >= 0]
    server_only = [m for m in merged if position(patch_order, m) < 0]
    in_patch.sort(key=lambda m: position(patch_order, m))
    server_only.sort(key=lambda m: (position(server_order, m) < 0, position(server_order, m)))
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            result.append(server_only[i])
            i += 1
            continue
        if i >= len(server_only):
            result.append(in_patch[j])
            j += 1
            continue
        left, right = position(server_order, server_only[i]), position(server_order, in_patch[j])
        if left >= 0 and right >= 0 and left < right:
            result.append(server_only[i])
            i += 1
        else:
            result.append(in_patch[j])
            j += 1
    return result


def strategic_merge_patch(target: dict[str, Any], patch: dict[str, Any], *, kind: str) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch for an object of the given kind to a copy of target."""
    if not isinstance(target, dict) or not isinstance(patch, dict):
        raise PatchError("a strategic merge patch and its target must both be JSON objects")
    merged = _merge_map(copy.deepcopy(target), copy.deepcopy(patch), (), kind, apply=False)
    # `$patch: delete` at the top level empties the whole object.
    return {} if isinstance(merged, _Deleted) else merged


# --- Server-side apply ---------------------------------------------------------------------------


def apply_patch(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    previous_applied: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Server-side apply: applied fields win, keyed lists merge, fields the manager stopped applying go.

    previous_applied is what the same field manager applied last time (the caller keeps it); a
    field in it that applied no longer sets is removed. Ownership by other managers is not tracked.
    """
    if not isinstance(applied, dict):
        raise PatchError("an apply patch must be a JSON object")
    if live is None:
        result = clean(applied)
        assert isinstance(result, dict)
        return result
    kind = str(applied.get("kind") or live.get("kind") or "")
    merged = _merge_map(copy.deepcopy(live), copy.deepcopy(applied), (), kind, apply=True)
    assert isinstance(merged, dict)
    if previous_applied:
        _prune(merged, previous_applied, applied, (), kind)
    return merged


def _prune(
    result: dict[str, Any],
    previous: dict[str, Any],
    applied: dict[str, Any],
    path: tuple[str, ...],
    kind: str,
) -> None:
    """Remove from result the fields previous set and applied no longer sets, in place."""
    for key, before in previous.items():
        if key.startswith("$") or before is None:
            continue
        now = applied.get(key)
        if now is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(before, dict) and isinstance(now, dict) and isinstance(current, dict):
            _prune(current, before, now, (*path, key), kind)
        elif isinstance(before, list) and isinstance(now, list) and isinstance(current, list):
            merges, merge_key = _list_strategy((*path, key), kind)
            if not merges:
                continue
            if merge_key is None:
                result[key] = [v for v in current if not (_contains(before, v) and not _contains(now, v))]
                continue
            _prune_keyed(result, key, before, now, current, (*path, key), kind, merge_key)


def _prune_keyed(
    result: dict[str, Any],
    key: str,
    before: list[Any],
    now: list[Any],
    current: list[Any],
    path: tuple[str, ...],
    kind: str,
    merge_key: str,
) -> None:
    def find(items: list[Any], value: Any) -> dict[str, Any] | None:
        return next(
            (i for i in items if isinstance(i, dict) and json_equal(i.get(merge_key), value)),
            None,
        )

    kept = []
    for element in current:
        ident = element.get(merge_key) if isinstance(element, dict) else None
        old = find(before, ident)
        new = find(now, ident)
        if old is not None and new is None:
            continue
        if old is not None and new is not None and isinstance(element, dict):
            _prune(element, old, new, path, kind)
        kept.append(element)
    result[key] = kept
