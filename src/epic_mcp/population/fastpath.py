"""A fast evaluator for the plain FHIRPath most view columns use; everything else goes to fhirpathpy.

fhirpathpy interprets a parse tree per call, about 0.2 ms per column. Most columns are member navigation
(`subject.getReferenceKey(Patient)`, `code.coding.code.first()`, `value.ofType(Quantity).value`), which is a
few dictionary lookups. `compile_fast` turns such an expression into a Python function over the FHIR JSON, or
returns None when the expression uses anything outside this subset:

    path      := term ('.' step)*
    term      := step | iif '(' path ',' path ',' path ')'
    step      := NAME | NAME '.ofType(' TYPE ')' | first() | exists() | count() | getResourceKey()
               | getReferenceKey([TYPE]) | join('s') | where(NAME = 's')

A test holds it to fhirpathpy's answers for every shipped column on the whole sandbox data set.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Items = list[Any]
Step = Callable[[Items], Items]
TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<string>'(?:[^'\\]|\\.)*')|(?P<punct>[().,=]))")


def _tokens(expression: str) -> list[str] | None:
    tokens, position = [], 0
    while position < len(expression.rstrip()):
        match = TOKEN.match(expression, position)
        if match is None:
            return None
        tokens.append(match.group(match.lastgroup or ""))
        position = match.end()
    return tokens


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


def _where_equals(name: str, literal: str) -> Step:
    def step(items: Items) -> Items:
        kept = []
        for item in items:
            value = item.get(name) if isinstance(item, dict) else None
            if isinstance(value, list):
                raise Fallback  # FHIRPath's collection equality: leave it to fhirpathpy
            if value == literal:
                kept.append(item)
        return kept
    return step


def _join(separator: str) -> Step:
    def step(items: Items) -> Items:
        if not all(isinstance(i, str) for i in items):
            raise Fallback
        return [separator.join(items)] if items else []
    return step


class Fallback(Exception):
    """An expression or an input this evaluator does not model: evaluate it with fhirpathpy instead."""


def _literal(token: str) -> str:
    return token[1:-1].replace("\\'", "'").replace("\\\\", "\\")


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

    def path(self) -> Step:
        steps = [self.term()]
        while self.peek() == ".":
            self.take(".")
            steps.append(self.step())

        def run(items: Items) -> Items:
            for step in steps:
                items = step(items)
            return items
        return run

    def term(self) -> Step:
        first = self.peek() or ""
        if first[:1].isupper():
            raise Fallback  # a type name (Patient.name): fhirpathpy knows the model
        if self.peek() == "iif" and self.peek(1) == "(":
            self.take("iif")
            self.take("(")
            criterion = self.path()
            self.take(",")
            then = self.path()
            self.take(",")
            otherwise = self.path()
            self.take(")")

            def choose(items: Items) -> Items:
                if len(items) != 1:
                    raise Fallback
                decided = criterion(items)
                return then(items) if decided == [True] else otherwise(items)
            return choose
        return self.step()

    def step(self) -> Step:
        name = self.name()
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
        if name in ("first", "exists", "count", "getResourceKey"):
            self.take(")")
            return {"first": lambda items: items[:1], "exists": lambda items: [bool(items)],
                    "count": lambda items: [len(items)], "getResourceKey": _resource_key}[name]
        if name == "getReferenceKey":
            wanted = None if self.peek() == ")" else self.name()
            self.take(")")
            return _reference_key(wanted)
        if name == "join":
            separator = _literal(self.string())
            self.take(")")
            return _join(separator)
        if name == "where":
            field = self.name()
            self.take("=")
            literal = _literal(self.string())
            self.take(")")
            return _where_equals(field, literal)
        raise Fallback

    def string(self) -> str:
        token = self.take()
        if not token.startswith("'"):
            raise Fallback
        return token


def compile_fast(expression: str) -> Callable[[Any], Items] | None:
    """A function from a focus (FHIR JSON, or fhirpathpy's node wrapping it) to the result, or None. The function
    raises Fallback for inputs it does not model (the caller then asks fhirpathpy)."""
    tokens = _tokens(expression)
    if not tokens:
        return None
    parser = _Parser(tokens)
    try:
        run = parser.path()
    except Fallback:
        return None
    if parser.at != len(tokens):
        return None

    def evaluate(focus: Any) -> Items:
        return run([getattr(focus, "data", focus)])
    return evaluate

