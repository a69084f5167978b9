"""Label and field selectors as the API server parses them from `labelSelector` and `fieldSelector`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class SelectorError(ValueError):
    """A selector that does not parse or validate; the server answers it with 400 BadRequest."""


class Operator(StrEnum):
    """A label requirement's operator, spelled as the selector syntax writes it."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = ">"
    LESS_THAN = "<"


# --- Validation (k8s.io/apimachinery/pkg/util/validation) ----------------------------------------

_NAME_PART: Final = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)")
_DNS_SUBDOMAIN: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
_INT64: Final = re.compile(r"[+-]?[0-9]+")


def _check_key(key: str) -> None:
    """Raise unless key is a qualified name: an optional DNS-subdomain prefix and '/', then a name."""
    prefix, slash, name = key.rpartition("/")
    problems = []
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        problems.append("prefix part must be a lowercase DNS subdomain of at most 253 characters")
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    elif not _NAME_PART.fullmatch(name):
        problems.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    if problems:
        raise SelectorError(f"invalid label key {key!r}: {'; '.join(problems)}")


def _check_value(key: str, value: str) -> None:
    """Raise unless value is a valid label value (empty, or a name part of at most 63 characters)."""
    if value and (len(value) > 63 or not _NAME_PART.fullmatch(value)):
        raise SelectorError(
            f"invalid label value {value!r} at key {key!r}: must be 63 characters or less, "
            "consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric"
        )


def _parse_int(text: str) -> int | None:
    return int(text) if _INT64.fullmatch(text) and -(2**63) <= int(text) < 2**63 else None


# --- Label selectors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """One comma-separated term of a label selector."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_key(self.key)
        count = len(self.values)
        if self.operator in (Operator.IN, Operator.NOT_IN) and count == 0:
            raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
        if self.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS) and count != 1:
            raise SelectorError("exact-match compatibility requires one single value")
        if self.operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and count != 0:
            raise SelectorError("values set must be empty for exists and does not exist")
        numeric = self.operator in (Operator.GREATER_THAN, Operator.LESS_THAN)
        if numeric and (count != 1 or _parse_int(self.values[0]) is None):
            raise SelectorError("for 'Gt', 'Lt' operators, exactly one integer value is required")
        for value in self.values:
            _check_value(self.key, value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether labels satisfy this requirement."""
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case Operator.EQUALS | Operator.DOUBLE_EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                # Kubernetes counts an object without the label as "not equal": `env!=prod` matches it.
                return not present or value not in self.values
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.GREATER_THAN | Operator.LESS_THAN:
                # A label that is absent or not an integer never satisfies a numeric comparison.
                number = _parse_int(value) if value is not None else None
                if number is None:
                    return False
                limit = int(self.values[0])
                return number > limit if self.operator is Operator.GREATER_THAN else number < limit
        raise AssertionError(self.operator)  # pragma: no cover - the match above is exhaustive

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {self.operator.value} ({','.join(sorted(self.values))})"
        return f"{self.key}{self.operator.value}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: all requirements must match (an empty one matches everything)."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        found = labels or {}
        return all(r.matches(found) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_WHITESPACE: Final = " \t\r\n"
_SPECIAL: Final = "=!(),<>"
_TWO_CHAR_OPS: Final = ("!=", "==")


@dataclass(frozen=True)
class _Token:
    kind: str  # "id", "end", or the operator/punctuation text itself ("in" and "notin" included)
    text: str


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(text):
            tokens.append(_Token("end", ""))
            return tokens
        if text[pos] in _SPECIAL:
            # Operators are matched greedily, so "!=" is one token and "=(" is two.
            width = 2 if text[pos : pos + 2] in _TWO_CHAR_OPS else 1
            symbol = text[pos : pos + width]
            tokens.append(_Token(symbol, symbol))
            pos += width
            continue
        start = pos
        while pos < len(text) and text[pos] not in _WHITESPACE and text[pos] not in _SPECIAL:
            pos += 1
        word = text[start:pos]
        tokens.append(_Token(word if word in ("in", "notin") else "id", word))


class _LabelParser:
    """Recursive descent over the lexed selector, following the grammar of labels.Parse."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, *, as_value: bool = False) -> _Token:
        token = self.tokens[self.pos]
        # "in" and "notin" are keywords only where an operator may stand; elsewhere they are words.
        return _Token("id", token.text) if as_value and token.kind in ("in", "notin") else token

    def take(self, *, as_value: bool = False) -> _Token:
        token = self.peek(as_value=as_value)
        self.pos += 1
        return token

    def parse(self) -> tuple[Requirement, ...]:
        requirements: list[Requirement] = []
        while True:
            token = self.peek(as_value=True)
            if token.kind == "end":
                return tuple(requirements)
            if token.kind not in ("id", "!"):
                raise SelectorError(f"found '{token.text}', expected: !, identifier, or 'end of string'")
            requirements.append(self.requirement())
            after = self.take(as_value=True)
            if after.kind == "end":
                return tuple(requirements)
            if after.kind != ",":
                raise SelectorError(f"found '{after.text}', expected: ',' or 'end of string'")
            following = self.peek(as_value=True)
            if following.kind not in ("id", "!"):
                raise SelectorError(f"found '{following.text}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = False
        token = self.take(as_value=True)
        if token.kind == "!":
            negated = True
            token = self.take(as_value=True)
        if token.kind != "id":
            raise SelectorError(f"found '{token.text}', expected: identifier")
        key = token.text
        _check_key(key)
        if negated:
            return Requirement(key, Operator.DOES_NOT_EXIST)
        if self.peek(as_value=True).kind in ("end", ","):
            return Requirement(key, Operator.EXISTS)
        op_token = self.take()
        operators = {
            "=": Operator.EQUALS,
            "==": Operator.DOUBLE_EQUALS,
            "!=": Operator.NOT_EQUALS,
            "in": Operator.IN,
            "notin": Operator.NOT_IN,
            ">": Operator.GREATER_THAN,
            "<": Operator.LESS_THAN,
        }
        if op_token.kind not in operators:
            raise SelectorError(f"found '{op_token.text}', expected: '=', '!=', '==', 'in', 'notin'")
        operator = operators[op_token.kind]
        if operator in (Operator.IN, Operator.NOT_IN):
            return Requirement(key, operator, self.value_set())
        return Requirement(key, operator, (self.exact_value(),))

    def exact_value(self) -> str:
        token = self.peek(as_value=True)
        # `key=` with nothing after it selects the empty value, as in Kubernetes.
        if token.kind in ("end", ","):
            return ""
        self.take()
        if token.kind != "id":
            raise SelectorError(f"found '{token.text}', expected: identifier")
        return token.text

    def value_set(self) -> tuple[str, ...]:
        opening = self.take(as_value=True)
        if opening.kind != "(":
            raise SelectorError(f"found '{opening.text}', expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            token = self.take(as_value=True)
            if token.kind == ")":
                # An empty slot, as in "()" or "(a,)", is the empty value, as in Kubernetes.
                if expect_value:
                    values.append("")
                break
            if token.kind == ",":
                if expect_value:
                    values.append("")
                expect_value = True
            elif token.kind == "id" and expect_value:
                values.append(token.text)
                expect_value = False
            else:
                raise SelectorError(f"found '{token.text}', expected: ',', ')' or identifier")
        return tuple(sorted(set(values)))


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a `labelSelector` query value; raise SelectorError on bad syntax or invalid keys/values."""
    requirements = _LabelParser(text).parse()
    # The real parser sorts requirements by key, which fixes the canonical string form.
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def label_selector_from_object(selector: Mapping[str, Any]) -> LabelSelector:
    """Convert a metav1.LabelSelector (`matchLabels`, `matchExpressions`) into a LabelSelector."""
    requirements: list[Requirement] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be a map of strings")
    for key, value in match_labels.items():
        requirements.append(Requirement(str(key), Operator.EQUALS, (str(value),)))
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    operators = {
        "In": Operator.IN,
        "NotIn": Operator.NOT_IN,
        "Exists": Operator.EXISTS,
        "DoesNotExist": Operator.DOES_NOT_EXIST,
    }
    for expression in expressions:
        if not isinstance(expression, Mapping):
            raise SelectorError(f"matchExpressions entry must be a map, not {expression!r}")
        name = expression.get("operator")
        if name not in operators:
            raise SelectorError(f"{name!r} is not a valid label selector operator")
        values = expression.get("values") or []
        requirements.append(Requirement(str(expression.get("key", "")), operators[name], tuple(values)))
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def match_label_selector_object(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether labels match a metav1.LabelSelector; a null selector matches nothing, an empty one all."""
    if selector is None:
        return False
    return label_selector_from_object(selector).matches(labels)


# --- Field selectors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector: a dotted field path, `=` or `!=`, and a value."""

    field: str
    operator: Operator
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's field compares to the value as the operator asks."""
        equal = field_value(obj, self.field) == self.value
        return equal if self.operator is not Operator.NOT_EQUALS else not equal


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: all terms must match (an empty one matches everything)."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object is selected."""
        return all(r.matches(obj) for r in self.requirements)

    def fields(self) -> set[str]:
        """The field paths the selector names, so the server can reject unsupported ones."""
        return {r.field for r in self.requirements}

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of the field at a dotted path; a missing field reads as ""."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""
        node = node[part]
    if node is None:
        return ""
    if isinstance(node, bool):
        # Go formats booleans in lower case: `spec.unschedulable=true`.
        return "true" if node else "false"
    return str(node)


def _split_terms(text: str) -> list[str]:
    # A backslash escapes the next character, so "\," inside a value does not end the term.
    terms, start, escaped = [], 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape(value: str) -> str:
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {char!r}")
        else:
            out.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a `fieldSelector` query value (`a=b`, `a==b`, `a!=b`, comma-separated)."""
    requirements = []
    for term in _split_terms(text) if text else []:
        if not term:
            # The real parser skips empty terms, so "a=b," is accepted.
            continue
        # The field part has no escaping: the first operator anywhere in the term splits it.
        for i in range(len(term)):
            rest = term[i:]
            operator = next((op for op in ("!=", "==", "=") if rest.startswith(op)), None)
            if operator is not None:
                field, value = term[:i], _unescape(term[i + len(operator) :])
                op = Operator.NOT_EQUALS if operator == "!=" else Operator.EQUALS
                requirements.append(FieldRequirement(field, op, value))
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
    return FieldSelector(tuple(sorted(requirements, key=lambda r: (r.field, r.operator, r.value))))
