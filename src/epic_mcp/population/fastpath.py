"""A fast evaluator for the FHIRPath subset the shipped views use; everything else goes to fhirpathpy.

fhirpathpy interprets a parse tree per call, about 0.2 ms per column. The view columns are member navigation
(`subject.getReferenceKey(Patient)`, `value.ofType(Quantity).value`), filters on codings
(`code.coding.where(system in ('http://loinc.org' | 'urn:oid:2.16.840.1.113883.6.1')).code`) and choices
between them (`iif(...)`): a few dictionary lookups each. `compile_fast` turns such an expression into a Python
function over the FHIR JSON, or returns None when it uses anything outside this subset:

    expression := and ('or' and)*
    and        := in ('and' in)*
    in         := equality ('in' equality)?
    equality   := union (('=' | '!=') union)?
    union      := chain ('|' chain)*
    chain      := term ('.' call)*
    term       := STRING | 'true' | 'false' | '{' '}' | '(' expression ')' | call
    call       := NAME | NAME '.ofType(' TYPE ')' | iif(e, e[, e]) | where(e) | select(e) | exists([e])
                | first() | last() | count() | empty() | not() | distinct() | lower() | upper()
                | startsWith('s') | join('s') | getResourceKey() | getReferenceKey([TYPE])

Collections follow FHIRPath: empty propagates through `=` and `in`, `and`/`or` use three-valued logic. Where
an input falls outside what this evaluator models (a comparison of collections, a non-boolean criterion), it
raises Fallback and the caller asks fhirpathpy. A test holds it to fhirpathpy's answers for every shipped
column and forEach on three data sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Items = list[Any]
Step = Callable[[Items], Items]
TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<string>'(?:[^'\\]|\\.)*')"
                   r"|(?P<punct>!=|[().,=|{}]))")
FUNCTIONS_WITHOUT_ARGUMENTS = {"first", "last", "count", "empty", "not", "distinct", "lower", "upper",
                               "getResourceKey"}


class Fallback(Exception):
    """An expression or an input this evaluator does not model: evaluate it with fhirpathpy instead."""


def _tokens(expression: str) -> list[str] | None:
    tokens, position = [], 0
    while position < len(expression.rstrip()):
        match = TOKEN.match(expression, position)
        if match is None:
            return None
        tokens.append(match.group(match.lastgroup or ""))
        position = match.end()
    return tokens


def _literal(token: str) -> str:
    return token[1:-1].replace("\\'", "'").replace("\\\\", "\\")


def _same(left: Any, right: Any) -> bool:
    """FHIRPath equality of two single primitives; anything this does not model falls back."""
    if isinstance(left, bool) or isinstance(right, bool):
        if type(left) is not type(right):
            raise Fallback
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    raise Fallback


def _truth(items: Items) -> bool | None:
    """A criterion's value: True, False, or None for empty; anything else is not modelled."""
    if not items:
        return None
    if len(items) == 1 and isinstance(items[0], bool):
        return bool(items[0])
    raise Fallback


def _single_string(items: Items) -> str | None:
    if not items:
        return None
    if len(items) == 1 and isinstance(items[0], str):
        return str(items[0])
    raise Fallback


def _member(name: str) -> Step:
    def step(items: Items) -> Items:
        found: Items = []
        for item in items:
            value = item.get(name) if isinstance(item, dict) else None
            if isinstance(value, list):
                found.extend(v for v in value if v is not None)
            elif value is not None:
                found.append(value)
        return found
    return step


def _resource_key(items: Items) -> Items:
    return [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]


def _reference_key(wanted: str | None) -> Step:
    def step(items: Items) -> Items:
        keys = []
        for item in items:
            reference = item.get("reference") if isinstance(item, dict) else None
            if not isinstance(reference, str) or "/" not in reference:
                continue
            kind, _, key = reference.partition("/_history/")[0].rstrip("/").rpartition("/")
            if wanted is None or kind.rpartition("/")[2] == wanted:
                keys.append(key)
        return keys
    return step


def _distinct(items: Items) -> Items:
    kept: Items = []
    for item in items:
        if isinstance(item, (dict, list)):
            raise Fallback
        if not any(type(item) is type(k) and item == k for k in kept):
            kept.append(item)
    return kept


def _not(items: Items) -> Items:
    value = _truth(items)
    return [] if value is None else [not value]


def _case(convert: Callable[[str], str]) -> Step:
    def step(items: Items) -> Items:
        text = _single_string(items)
        return [] if text is None else [convert(text)]
    return step


SIMPLE: dict[str, Step] = {
    "first": lambda items: items[:1], "last": lambda items: items[-1:], "count": lambda items: [len(items)],
    "empty": lambda items: [not items], "not": _not, "distinct": _distinct, "getResourceKey": _resource_key,
    "lower": _case(str.lower), "upper": _case(str.upper),
}


def _join(separator: str) -> Step:
    def step(items: Items) -> Items:
        if not all(isinstance(i, str) for i in items):
            raise Fallback
        return [separator.join(items)] if items else []
    return step


def _starts_with(prefix: str) -> Step:
    def step(items: Items) -> Items:
        text = _single_string(items)
        return [] if text is None else [text.startswith(prefix)]
    return step


def _where(criterion: Step) -> Step:
    def step(items: Items) -> Items:
        return [item for item in items if _truth(criterion([item])) is True]
    return step


def _select(projection: Step) -> Step:
    def step(items: Items) -> Items:
        return [value for item in items for value in projection([item])]
    return step


def _iif(criterion: Step, then: Step, otherwise: Step | None) -> Step:
    def step(items: Items) -> Items:
        if len(items) != 1:
            raise Fallback
        if _truth(criterion(items)) is True:
            return then(items)
        return otherwise(items) if otherwise is not None else []
    return step


def _or(left: Step, right: Step) -> Step:
    def step(items: Items) -> Items:
        a, b = _truth(left(items)), _truth(right(items))
        if a is True or b is True:
            return [True]
        return [False] if a is False and b is False else []
    return step


def _and(left: Step, right: Step) -> Step:
    def step(items: Items) -> Items:
        a, b = _truth(left(items)), _truth(right(items))
        if a is False or b is False:
            return [False]
        return [True] if a is True and b is True else []
    return step


def _equals(left: Step, right: Step, negate: bool) -> Step:
    def step(items: Items) -> Items:
        a, b = left(items), right(items)
        if not a or not b:
            return []
        if len(a) != 1 or len(b) != 1:
            raise Fallback  # FHIRPath's collection equality: leave it to fhirpathpy
        return [_same(a[0], b[0]) != negate]
    return step


def _in(left: Step, right: Step) -> Step:
    if isinstance(right, _Literal) and all(isinstance(v, str) for v in right.values):
        allowed = frozenset(right.values)  # a literal list of codes: a set lookup

        def lookup(items: Items) -> Items:
            a = left(items)
            if not a:
                return []
            if len(a) != 1 or not isinstance(a[0], str):
                raise Fallback
            return [a[0] in allowed]
        return lookup

    def step(items: Items) -> Items:
        a = left(items)
        if not a:
            return []
        if len(a) != 1:
            raise Fallback
        return [any(_same(a[0], b) for b in right(items))]
    return step


def _union(left: Step, right: Step) -> Step:
    if isinstance(left, _Literal) and isinstance(right, _Literal):
        return _Literal(_distinct([*left.values, *right.values]))

    def step(items: Items) -> Items:
        return _distinct([*left(items), *right(items)])
    return step


class _Literal:
    """A step that is a literal: unions and `in` over literals are worked out once, when compiled."""

    def __init__(self, values: Items) -> None:
        self.values = values

    def __call__(self, items: Items) -> Items:
        return list(self.values)


def _chain(steps: list[Step]) -> Step:
    def run(items: Items) -> Items:
        for step in steps:
            items = step(items)
        return items
    return run


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self, offset: int = 0) -> str | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, *expected: str) -> str:
        token = self.peek()
        if token is None or (expected and token not in expected):
            raise Fallback
        self.at += 1
        return token

    def name(self) -> str:
        token = self.take()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
            raise Fallback
        return token

    def string(self) -> str:
        token = self.take()
        if not token.startswith("'"):
            raise Fallback
        return _literal(token)

    def expression(self) -> Step:
        left = self.conjunction()
        while self.peek() == "or":
            self.take("or")
            left = _or(left, self.conjunction())
        return left

    def conjunction(self) -> Step:
        left = self.membership()
        while self.peek() == "and":
            self.take("and")
            left = _and(left, self.membership())
        return left

    def membership(self) -> Step:
        left = self.equality()
        if self.peek() == "in":
            self.take("in")
            return _in(left, self.equality())
        return left

    def equality(self) -> Step:
        left = self.union()
        if self.peek() in ("=", "!="):
            negate = self.take() == "!="
            return _equals(left, self.union(), negate)
        return left

    def union(self) -> Step:
        left = self.chain()
        while self.peek() == "|":
            self.take("|")
            left = _union(left, self.chain())
        return left

    def chain(self) -> Step:
        steps = [self.term()]
        while self.peek() == ".":
            self.take(".")
            if self.peek() == "ofType":
                raise Fallback  # ofType after anything but a member name
            steps.append(self.call())
        return steps[0] if len(steps) == 1 else _chain(steps)

    def term(self) -> Step:
        token = self.peek() or ""
        if token.startswith("'"):
            return _Literal([self.string()])
        if token in ("true", "false"):
            self.take()
            return _Literal([token == "true"])
        if token == "{":
            self.take("{")
            self.take("}")
            return _Literal([])
        if token == "(":
            self.take("(")
            inner = self.expression()
            self.take(")")
            return inner
        if token[:1].isupper():
            raise Fallback  # a type name (Patient.name): fhirpathpy knows the model
        return self.call()

    def call(self) -> Step:
        name = self.name()
        if name in ("and", "or", "in", "true", "false"):
            raise Fallback
        if self.peek() != "(":
            if self.peek() == "." and self.peek(1) == "ofType":
                self.take(".")
                self.take("ofType")
                self.take("(")
                kind = self.name()
                self.take(")")
                return _member(name + kind[0].upper() + kind[1:])
            return _member(name)
        self.take("(")
        step = self.function(name)
        self.take(")")
        return step

    def function(self, name: str) -> Step:
        if name in FUNCTIONS_WITHOUT_ARGUMENTS:
            return SIMPLE[name]
        if name == "exists":
            exists: Step = lambda items: [bool(items)]  # noqa: E731
            return exists if self.peek() == ")" else _chain([_where(self.expression()), exists])
        if name == "getReferenceKey":
            return _reference_key(None if self.peek() == ")" else self.name())
        if name == "join":
            return _join(self.string())
        if name == "startsWith":
            return _starts_with(self.string())
        if name == "where":
            return _where(self.expression())
        if name == "select":
            return _select(self.expression())
        if name == "iif":
            criterion = self.expression()
            self.take(",")
            then = self.expression()
            otherwise = None
            if self.peek() == ",":
                self.take(",")
                otherwise = self.expression()
            return _iif(criterion, then, otherwise)
        raise Fallback


def compile_fast(expression: str) -> Callable[[Any], Items] | None:
    """A function from a focus (FHIR JSON, or fhirpathpy's node wrapping it) to the result, or None. The function
    raises Fallback for inputs it does not model (the caller then asks fhirpathpy)."""
    tokens = _tokens(expression)
    if not tokens:
        return None
    parser = _Parser(tokens)
    try:
        run = parser.expression()
    except Fallback:
        return None
    if parser.at != len(tokens):
        return None

    def evaluate(focus: Any) -> Items:
        return run([getattr(focus, "data", focus)])
    return evaluate
