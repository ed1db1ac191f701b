"""SQL-on-FHIR v2 ViewDefinitions: the subset the shipped views use, evaluated with fhirpathpy.

Supported: `select` (nested), `column` (path, name, type, collection), `forEach`, `forEachOrNull`, `unionAll`,
`where`, `constant`, and the SQL-on-FHIR functions getResourceKey() and getReferenceKey([type]). The FHIRPath the
shipped views use is evaluated by fastpath.py (the same answers, much faster), the rest by fhirpathpy. A view is
compiled once and then turns one resource into zero or more rows (tuples in column order; a collection column
holds a list). The same code runs in the DuckDB loader and inside Spark executors, so both engines produce the
same rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from ..errors import EpicMcpError
from .fastpath import Fallback, compile_fast

Kind = Literal["text", "decimal", "integer", "boolean"]
Row = tuple[Any, ...]

KINDS: dict[str, Kind] = {
    **{t: "text" for t in ("id", "string", "code", "uri", "url", "canonical", "markdown", "oid", "uuid",
                           "date", "dateTime", "instant", "time", "base64Binary")},
    "decimal": "decimal",
    **{t: "integer" for t in ("integer", "positiveInt", "unsignedInt", "integer64")},
    "boolean": "boolean",
}
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
SELECT_KEYS = {"column", "select", "forEach", "forEachOrNull", "unionAll"}


class ViewError(EpicMcpError):
    """A ViewDefinition is outside the supported subset, or a resource broke one of its rules."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    description: str = ""
    collection: bool = False


def _data(node: Any) -> Any:
    """fhirpathpy hands user functions its internal nodes or plain JSON; this is the JSON."""
    return getattr(node, "data", node)


def _resource_key(nodes: list[Any]) -> list[Any]:
    keys = [_data(node).get("id") for node in nodes if isinstance(_data(node), dict)]
    return [key for key in keys if isinstance(key, str)]


def _reference_key(nodes: list[Any], resource_type: Any = None) -> list[Any]:
    wanted = getattr(resource_type, "name", None)
    keys = []
    for node in nodes:
        data = _data(node)
        reference = data.get("reference") if isinstance(data, dict) else None
        if not isinstance(reference, str) or "/" not in reference:
            continue
        kind, _, key = reference.partition("/_history/")[0].rstrip("/").rpartition("/")
        kind = kind.rpartition("/")[2]
        if wanted is None or kind == wanted:
            keys.append(key)
    return keys


FUNCTIONS = {
    "getResourceKey": {"fn": _resource_key, "arity": {0: []}},
    "getReferenceKey": {"fn": _reference_key, "arity": {0: [], 1: ["TypeSpecifier"]}},
}

Path = Callable[[Any, dict[str, Any]], list[Any]]
Fast = Callable[[Any], list[Any]]


class _Strict(ErrorListener):
    def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:
        raise ViewError(f"column {column + 1}: {msg}")


def _check_syntax(expression: str) -> None:
    """fhirpathpy recovers from syntax errors silently (a typo would quietly give nothing); parse strictly first."""
    lexer = FHIRPathLexer(InputStream(expression))
    parser = FHIRPathParser(CommonTokenStream(lexer))
    for recognizer in (lexer, parser):
        recognizer.removeErrorListeners()
        recognizer.addErrorListener(_Strict())
    parser.entireExpression()


def _path(expression: Any, nodes: bool = False) -> Path:
    """A compiled FHIRPath. With `nodes`, results keep their FHIR type (for forEach: a choice element such as
    component.value[x] can only be resolved by ofType() when the focus knows where it came from)."""
    if not isinstance(expression, str) or not expression.strip():
        raise ViewError(f"a path must be a FHIRPath expression, not {expression!r}")
    options = {"userInvocationTable": FUNCTIONS, "returnRawData": nodes}
    try:
        _check_syntax(expression)
        return compile_fhirpath(expression, model=models["r4"], options=options)
    except Exception as exc:
        raise ViewError(f"cannot parse FHIRPath {expression!r}: {exc}") from None


class _Deferred:
    """fhirpathpy's form of a path the fast evaluator parsed (so its syntax is sound), compiled on first use:
    compiling every column with fhirpathpy takes a second or more, and most inputs never need it."""

    def __init__(self, expression: str, nodes: bool = False) -> None:
        self.expression = expression
        self.nodes = nodes
        self.compiled: Path | None = None

    def __call__(self, focus: Any, constants: dict[str, Any]) -> list[Any]:
        if self.compiled is None:
            self.compiled = _path(self.expression, self.nodes)
        return self.compiled(focus, constants)


def _paths(expression: Any, nodes: bool = False) -> tuple[Path, Fast | None]:
    """The fhirpathpy form of a path (deferred when the fast one exists) and its fast form, if any."""
    fast = compile_fast(expression) if isinstance(expression, str) else None
    return (_Deferred(expression, nodes) if fast is not None else _path(expression, nodes)), fast


@dataclass
class _Select:
    """One select node: its own columns, nested selects, unionAll branches, and an optional iteration (with its
    fast form when every column under it is fast too: then the items stay plain JSON)."""

    columns: list[tuple[Path, Fast | None, Column]] = field(default_factory=list)
    selects: list[_Select] = field(default_factory=list)
    union: list[_Select] = field(default_factory=list)
    each: Path | None = None
    each_fast: Fast | None = None
    or_null: bool = False
    names: list[str] = field(default_factory=list)


def _constants(definition: dict[str, Any]) -> dict[str, Any]:
    constants = {}
    for item in definition.get("constant") or []:
        values = [v for k, v in item.items() if k.startswith("value")]
        if not isinstance(item.get("name"), str) or len(values) != 1:
            raise ViewError("each constant needs a name and exactly one value[x]")
        constants[item["name"]] = values[0]
    return constants


def with_dates(definition: dict[str, Any], dates: dict[str, date]) -> dict[str, Any]:
    """The definition with these date constants set, for the views that use them (patient.age reads %as_of). The
    shipped views declare none: run without the loader's day, such a view fails loudly instead of counting ages
    on a placeholder."""
    constants = [item for item in definition.get("constant") or [] if item.get("name") not in dates]
    used = [name for name in dates if f"%{name}" in json.dumps(definition.get("select"))]
    constants += [{"name": name, "valueDate": dates[name].isoformat()} for name in used]
    return {**definition, "constant": constants} if constants else definition


class View:
    """A compiled ViewDefinition: `rows(resource)` flattens one resource of the view's type."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        name, resource = definition.get("name"), definition.get("resource")
        if not isinstance(name, str) or not NAME.match(name):
            raise ViewError("a ViewDefinition needs a `name` usable as a table name (letters, digits, _)")
        if not isinstance(resource, str) or not NAME.match(resource):
            raise ViewError(f"view {name}: `resource` must name a FHIR resource type")
        self.name: str = name
        self.resource: str = resource
        self.title = str(definition.get("title") or "")
        self.constants = _constants(definition)
        self.columns: list[Column] = []
        self._root = self._compile({"select": definition.get("select") or []}, register=True)
        if not self.columns:
            raise ViewError(f"view {self.name}: it defines no columns")
        self._where = [_path(item.get("path")) for item in definition.get("where") or []]

    def _compile(self, node: dict[str, Any], register: bool) -> _Select:
        unknown = set(node) - SELECT_KEYS
        if unknown:
            raise ViewError(f"view {self.name}: unsupported select element(s) {sorted(unknown)}")
        compiled = _Select()
        iteration = node.get("forEach", node.get("forEachOrNull"))
        each_fast = None
        if iteration is not None:
            compiled.each, each_fast = _paths(iteration, nodes=True)
            compiled.or_null = "forEachOrNull" in node
        compiled.columns = [(*_paths(c.get("path")), self._column(c, register)) for c in node.get("column") or []]
        compiled.selects = [self._compile(child, register) for child in node.get("select") or []]
        branches = node.get("unionAll") or []
        if branches:
            first = self._compile(branches[0], register)
            rest = [self._compile(branch, register=False) for branch in branches[1:]]
            if any(branch.names != first.names for branch in rest):
                raise ViewError(f"view {self.name}: every unionAll branch must have the same columns in order")
            compiled.union = [first, *rest]
        compiled.names = [column.name for item in _walk(compiled) for _, _, column in item.columns]
        if all(fast is not None for item in _walk(compiled) for _, fast, _ in item.columns):
            compiled.each_fast = each_fast
        return compiled

    def _column(self, column: dict[str, Any], register: bool) -> Column:
        name, type_name = column.get("name"), column.get("type", "string")
        if not isinstance(name, str) or not NAME.match(name):
            raise ViewError(f"view {self.name}: column name {name!r} is not a usable SQL name")
        if type_name not in KINDS:
            raise ViewError(f"view {self.name}: column {name} has unsupported type {type_name!r}")
        result = Column(name, KINDS[type_name], str(column.get("description") or ""), bool(column.get("collection")))
        if register:
            if any(c.name == name for c in self.columns):
                raise ViewError(f"view {self.name}: column {name} is defined twice")
            self.columns.append(result)
        return result

    def rows(self, resource: dict[str, Any]) -> list[Row]:
        """The rows for one resource; none when it is another type or a `where` filter is not true."""
        if resource.get("resourceType") != self.resource:
            return []
        for condition in self._where:
            if _single(condition(resource, self.constants), "where") is not True:
                return []
        names = [column.name for column in self.columns]
        return [tuple(row.get(name) for name in names) for row in self._evaluate(self._root, resource)]

    def _evaluate(self, node: _Select, focus: Any, plain: bool = False) -> list[dict[str, Any]]:
        """Rows of one select node. `plain`: the focus is plain JSON from a fast forEach, where only fast columns
        can be evaluated (fhirpathpy needs its typed nodes); any Fallback then redoes the nearest fast forEach
        with fhirpathpy's items."""
        if node.each is None:
            return self._rows(node, [focus], plain)
        if node.each_fast is not None:
            try:
                return self._rows(node, node.each_fast(focus), True)
            except Fallback:
                if plain:
                    raise
        if plain:
            raise Fallback
        return self._rows(node, node.each(focus, self.constants), False)

    def _rows(self, node: _Select, foci: list[Any], plain: bool) -> list[dict[str, Any]]:
        if not foci:
            return [dict.fromkeys(node.names)] if node.or_null and node.each is not None else []
        rows: list[dict[str, Any]] = []
        for item in foci:
            own = {column.name: self._value(path, fast, item, column, plain) for path, fast, column in node.columns}
            parts = [[own]] + [self._evaluate(child, item, plain) for child in node.selects]
            if node.union:
                parts.append([row for branch in node.union for row in self._evaluate(branch, item, plain)])
            rows.extend(_product(parts))
        return rows

    def _value(self, path: Path, fast: Fast | None, focus: Any, column: Column, plain: bool = False) -> Any:
        values = None
        if fast is not None:
            try:
                values = fast(focus)
            except Fallback:
                if plain:
                    raise
        elif plain:
            raise Fallback
        if values is None:
            values = path(focus, self.constants)
        if column.collection:
            return [self._primitive(value, column) for value in values]
        value = _single(values, f"column {column.name}")
        return None if value is None else self._primitive(value, column)

    def _primitive(self, value: Any, column: Column) -> Any:
        if isinstance(value, (dict, list)):
            raise ViewError(f"view {self.name}: column {column.name} gave a complex value; its path must end "
                            "at a primitive")
        return _convert(value, column.kind)


def _single(values: list[Any], what: str) -> Any:
    if not values:
        return None
    if len(values) > 1:
        raise ViewError(f"{what} gave {len(values)} values where one was expected; add .first() to its path")
    return values[0]


def _convert(value: Any, kind: Kind) -> Any:
    if kind == "text":
        return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind == "decimal":
        return float(value) if isinstance(value, (int, float, Decimal)) else None
    return int(value) if isinstance(value, (int, Decimal)) and value == int(value) else None


def _product(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{}]
    for part in parts:
        rows = [{**left, **right} for left in rows for right in part]
    return rows


def _walk(node: _Select) -> Iterator[_Select]:
    yield node
    for child in [*node.selects, *node.union]:
        yield from _walk(child)


def shipped_definitions() -> list[dict[str, Any]]:
    """The ViewDefinitions shipped with epic-mcp (package data), as JSON, in name order."""
    folder = resources.files(__package__) / "views"
    return [json.loads(item.read_text())
            for item in sorted(folder.iterdir(), key=lambda f: f.name) if item.name.endswith(".json")]


def shipped_views(as_of: date | None = None) -> list[View]:
    """The shipped views, compiled; ages are counted on `as_of` (the export's day; without it, today in UTC)."""
    day = as_of or datetime.now(UTC).date()
    return [View(with_dates(definition, {"as_of": day})) for definition in shipped_definitions()]


def flatten_lines(definition: dict[str, Any], lines: Iterable[str | bytes]) -> Iterator[Row]:
    """Rows of one view for NDJSON lines; a module-level function so Spark can ship it to executors."""
    view = View(definition)
    for line in lines:
        if line.strip():
            yield from view.rows(json.loads(line))
