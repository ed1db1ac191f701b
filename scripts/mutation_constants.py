"""The second pass of scripts/mutation: module-level regular expressions and constants, which mutmut never
mutates (it mutates code inside functions only).

Each mutant changes one thing in one top-level assignment of a module:
- a regular expression (a string passed to re.compile, or a raw string) loses one item of a character class, one
  branch of an alternation, an anchor (^, $, \\b) or a lookaround; an optional part becomes required or goes;
  a quantifier asks for one more (or one fewer) repetition; an inline case-insensitive group or an re.I /
  re.IGNORECASE flag goes;
- any other string becomes XX<string>XX, a number grows by one, a boolean flips;
- a tuple, list, set or dict of them loses one member.
Strings in type annotations (Literal[...], type aliases) are left alone: they change no behaviour.

For each mutant, the module's unit tests run in a copy of the tree holding the mutant (pytest -x, in file
order, without the end-to-end tests); the mutant is killed when they fail, or time out.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

SKIPPED_NAMES = frozenset({"__all__", "logger"})
FLAGS = frozenset({"I", "IGNORECASE"})
LOOKAROUNDS = ("(?<=", "(?<!", "(?=", "(?!")
TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Mutant:
    name: str  # e.g. epic_mcp.phi.scrub:PATTERNS#12, numbered in source order within its assignment
    path: str  # the file, relative to the tree's root
    start: int  # byte offsets of the replaced source
    end: int
    replacement: str
    description: str


# Regular expressions ----------------------------------------------------------------------------------------

@dataclass
class _Group:
    start: int  # index of '(' (-1 for the whole pattern)
    content: int  # index where its branches start
    prefix: str
    bars: list[int]


def _class_end(pattern: str, start: int) -> int:
    """The index of the ']' closing the class that opens at `start`."""
    i = start + 1
    if pattern[i:i + 1] == "^":
        i += 1
    if pattern[i:i + 1] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def _class_items(pattern: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the items of a class: one character, an escape, or a range."""
    i = start + 1 + (pattern[start + 1:start + 2] == "^")
    items: list[tuple[int, int]] = []
    while i < end:
        first = i
        i += 2 if pattern[i] == "\\" else 1
        if pattern[i:i + 1] == "-" and i + 1 < end:
            i += 1
            i += 2 if pattern[i] == "\\" else 1
        items.append((first, i))
    return items


def _group_prefix(pattern: str, start: int) -> str:
    for prefix in ("(?:", *LOOKAROUNDS, "(?i:"):
        if pattern.startswith(prefix, start):
            return prefix
    named = re.match(r"\(\?P<\w+>", pattern[start:])
    return named.group(0) if named else "("


def _quantifier(pattern: str, start: int) -> int:
    """The end of the quantifier at `start` (start itself when there is none); a lazy '?' belongs to it."""
    if start >= len(pattern):
        return start
    end = start
    if pattern[start] in "?*+":
        end = start + 1
    elif pattern[start] == "{":
        close = re.match(r"\{\d*(,\d*)?\}", pattern[start:])
        end = start + close.end() if close else start
    if end > start and pattern[end:end + 1] == "?":
        end += 1
    return end


def _quantifier_changes(text: str) -> list[tuple[str, str]]:
    """(replacement, description) for a quantifier; a lazy one keeps its laziness."""
    lazy = "?" if len(text) > 1 and text.endswith("?") else ""
    core = text[:len(text) - len(lazy)]
    if core == "?":
        return [(lazy, "required instead of optional")]
    if core == "*":
        return [("+" + lazy, "at least once instead of any number of times")]
    if core == "+":
        return [(lazy, "exactly once instead of at least once")]
    low, comma, high = core[1:-1].partition(",")
    changes = []
    if low.isdigit() and (not comma or not high or int(low) + 1 <= int(high)):
        changes.append(("{" + f"{int(low) + 1}{comma}{high}" + "}" + lazy, "one more at least"))
    if high.isdigit() and int(high) > max(int(low or 0), 0):
        changes.append(("{" + f"{low}{comma}{int(high) - 1}" + "}" + lazy, "one fewer at most"))
    return changes


def regex_mutants(pattern: str) -> list[tuple[str, str]]:
    """(mutated pattern, description) for each small change of a regular expression (or a fragment of one)."""
    edits: list[tuple[int, int, str, str]] = []
    stack = [_Group(-1, 0, "", [])]

    def alternation(group: _Group, close: int) -> None:
        bounds = [group.content - 1, *group.bars, close]
        if len(bounds) < 3:
            return
        for k in range(len(bounds) - 1):
            branch = pattern[bounds[k] + 1:bounds[k + 1]]
            start, end = (bounds[k] + 1, bounds[k + 1] + 1) if k == 0 else (bounds[k], bounds[k + 1])
            edits.append((start, end, "", f"without the branch {branch!r}"))

    i = 0
    while i < len(pattern):
        char, atom = pattern[i], i
        if char == "\\":
            token = pattern[i:i + 2]
            i += 2
            if token in (r"\b", r"\B", r"\A", r"\Z"):
                edits.append((atom, i, "", f"without {token}"))
                continue
        elif char == "[":
            end = _class_end(pattern, i)
            items = _class_items(pattern, i, end)
            if len(items) > 1:
                edits += [(a, b, "", f"{pattern[i:end + 1]} without {pattern[a:b]!r}") for a, b in items]
            i = end + 1
        elif char == "(" and pattern.startswith("(?P=", i):
            i = pattern.index(")", i) + 1
        elif char == "(":
            prefix = _group_prefix(pattern, i)
            stack.append(_Group(i, i + len(prefix), prefix, []))
            if prefix == "(?i:":
                edits.append((i, i + len(prefix), "(?:", "case-sensitive instead of (?i:"))
            i += len(prefix)
            continue
        elif char == "|":
            stack[-1].bars.append(i)
            i += 1
            continue
        elif char == ")" and len(stack) > 1:
            group = stack.pop()
            alternation(group, i)
            i += 1
            atom = group.start
            if group.prefix in LOOKAROUNDS:
                edits.append((group.start, i, "", f"without {pattern[group.start:i]!r}"))
                continue
        elif char in "^$":
            edits.append((i, i + 1, "", f"without {char}"))
            i += 1
            continue
        else:
            i += 1
        end = _quantifier(pattern, i)
        if end > i:
            text = pattern[i:end]
            edits += [(i, end, new, f"{pattern[atom:end]!r}: {why}") for new, why in _quantifier_changes(text)]
            if text.startswith("?"):
                edits.append((atom, end, "", f"without the optional {pattern[atom:end]!r}"))
            i = end
    if len(stack) == 1:
        alternation(stack[0], len(pattern))
    mutants = []
    for start, end, new, why in edits:
        mutated = pattern[:start] + new + pattern[end:]
        if mutated != pattern:
            mutants.append((mutated, why))
    return mutants


# Finding what to mutate -------------------------------------------------------------------------------------

def _literal(value: str) -> str:
    """A Python literal for a string, raw when that keeps it readable."""
    if "\\" in value and '"' not in value and not value.endswith("\\") and value.isprintable():
        return f'r"{value}"'
    return repr(value)


def _is_regex_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        isinstance(node.func.value, ast.Name) and node.func.value.id == "re"


class _Finder:
    """The mutants of one module's top-level assignments."""

    def __init__(self, module: str, path: str, source: bytes) -> None:
        self.module, self.path, self.source = module, path, source
        self.lines = [0]
        for line in source.splitlines(keepends=True):
            self.lines.append(self.lines[-1] + len(line))
        self.found: list[Mutant] = []

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Byte offsets of a node's source (ast columns count UTF-8 bytes)."""
        start = self.lines[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        end = self.lines[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
        return start, end

    def text(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.source[start:end].decode()

    def add(self, name: str, start: int, end: int, replacement: str, description: str) -> None:
        prefix = f"{self.module}:{name}#"
        number = 1 + sum(1 for m in self.found if m.name.startswith(prefix))
        self.found.append(Mutant(f"{prefix}{number}", self.path, start, end, replacement, description))

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            return
        name = ast.unparse(target)
        if name in SKIPPED_NAMES or isinstance(value, ast.Subscript):
            return  # a logger, or a type alias such as Literal["text", ...]
        unpacked = isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
        if unpacked:  # MIN_DAYS, MAX_DAYS = 30, 365: each value on its own, none left out
            for item in value.elts:
                self.value(name, item)
        else:
            self.value(name, value)

    def value(self, name: str, node: ast.AST, regex: bool = False, record: bool = False,
              member: bool = False) -> None:
        """Mutants of a value: `regex` when its strings are (parts of) a regular expression, `record` when it is in
        a collection (a tuple there is a record: its fields are not left out), `member` when it is one of several
        members (left out rather than changed)."""
        if isinstance(node, ast.Constant):
            self.constant(name, node, regex, member)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if not (record and isinstance(node, ast.Tuple)):
                self.members(name, node.elts, node.elts)
            for item in node.elts:
                self.value(name, item, regex, record=True, member=len(node.elts) > 1)
        elif isinstance(node, ast.Dict):
            firsts = [self.span(k)[0] if k is not None else self.span(v)[0] - 2
                      for k, v in zip(node.keys, node.values, strict=True)]
            self.members(name, node.values, [k if k is not None else v for k, v in zip(node.keys, node.values,
                                                                                     strict=True)], firsts)
            for item in node.values:
                self.value(name, item, regex, record=True)
        elif isinstance(node, ast.Call) and _is_regex_call(node):
            for flag in node.args[1:]:
                self.flag(name, node, flag)
            if node.args:
                self.value(name, node.args[0], regex=True)
        elif isinstance(node, ast.Call):
            for item in [*node.args, *(k.value for k in node.keywords)]:
                self.value(name, item, regex, record, member)
        elif isinstance(node, ast.BinOp):
            self.value(name, node.left, regex, record, member)
            self.value(name, node.right, regex, record, member)
        elif isinstance(node, (ast.DictComp, ast.SetComp, ast.ListComp, ast.GeneratorExp)):
            for generator in node.generators:
                self.value(name, generator.iter, regex, record, member)

    def members(self, name: str, ends: Sequence[ast.AST], shown: Sequence[ast.AST],
                starts: Sequence[int] | None = None) -> None:
        """One mutant per member left out (an entry, for a dict: from its key to its value)."""
        if len(ends) < 2:
            return
        firsts = list(starts) if starts is not None else [self.span(item)[0] for item in ends]
        for k, item in enumerate(shown):
            if k < len(ends) - 1:
                start, end = firsts[k], firsts[k + 1]
            else:
                start, end = self.span(ends[k - 1])[1], self.span(ends[k])[1]
            label = self.text(item) if item is ends[k] else f"{self.text(item)}: ..."
            self.add(name, start, end, "", f"without the member {label}")

    def constant(self, name: str, node: ast.Constant, regex: bool, member: bool) -> None:
        start, end = self.span(node)
        value = node.value
        if isinstance(value, bool):
            self.add(name, start, end, str(not value), f"{value} -> {not value}")
        elif isinstance(value, (int, float)):
            self.add(name, start, end, repr(value + 1), f"{value!r} -> {value + 1!r}")
        elif isinstance(value, str):
            raw = self.source[start:end].decode().lstrip("bBfFuU")[:1] in "rR"
            if regex or raw:
                for mutated, why in regex_mutants(value):
                    self.add(name, start, end, _literal(mutated), f"regex {value!r}: {why}")
            elif not member:
                self.add(name, start, end, repr(f"XX{value}XX"), f"{value!r} -> 'XX...XX'")

    def flag(self, name: str, call: ast.Call, flag: ast.expr) -> None:
        words = {n.attr for n in ast.walk(flag) if isinstance(n, ast.Attribute)} & FLAGS
        if words:
            before = call.args[call.args.index(flag) - 1]
            self.add(name, self.span(before)[1], self.span(flag)[1], "", f"without the flag {self.text(flag)}")


def find_mutants(root: Path, files: Sequence[str]) -> list[Mutant]:
    mutants: list[Mutant] = []
    for path in files:
        source = (root / path).read_bytes()
        module = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
        finder = _Finder(module, path, source)
        for statement in ast.parse(source).body:
            finder.statement(statement)
        mutants += finder.found
    return mutants


# Running them -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    status: str  # killed, survived, timeout, invalid (the mutated module does not import: not counted)
    seconds: float


def _copy_tree(root: Path, where: Path) -> None:
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    shutil.copytree(root / "src", where / "src", ignore=shutil.ignore_patterns("__pycache__", "*.gz"))
    for data in (root / "src").rglob("*.gz"):
        (where / data.relative_to(root)).symlink_to(data)
    shutil.copytree(root / "tests", where / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "node_modules", "inspector", "oauth"))
    shutil.copy(root / "pyproject.toml", where / "pyproject.toml")


def _run(mutant: Mutant, where: Path, tests: Sequence[str]) -> Outcome:
    target = where / mutant.path
    original = target.read_bytes()
    target.write_bytes(original[:mutant.start] + mutant.replacement.encode() + original[mutant.end:])
    env = {**os.environ, "CI": "1", "PYTHONPATH": str(where / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    try:
        module = mutant.name.split(":")[0]
        imported = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=where, env=env,
                                  capture_output=True, check=False)
        if imported.returncode != 0:
            return Outcome(mutant, "invalid", time.monotonic() - started)
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-m", "not e2e", "-p", "no:randomly",
                               "-p", "no:cacheprovider", *tests], cwd=where, env=env, capture_output=True,
                              timeout=TIMEOUT_SECONDS, check=False)
        status = "survived" if done.returncode == 0 else "killed"
    except subprocess.TimeoutExpired:
        status = "timeout"
    finally:
        target.write_bytes(original)
    return Outcome(mutant, status, time.monotonic() - started)


def run_mutants(root: Path, work: Path, mutants: Sequence[Mutant], tests: Sequence[str],
                children: int) -> Iterator[Outcome]:
    """Each mutant against the tests, `children` at a time, each child in its own copy of the tree."""
    copies = [work / f"constants-{n}" for n in range(max(children, 1))]
    for copy in copies:
        _copy_tree(root, copy)
    free = list(copies)

    def one(mutant: Mutant) -> Outcome:
        where = free.pop()
        try:
            return _run(mutant, where, tests)
        finally:
            free.append(where)

    with ThreadPoolExecutor(max_workers=len(copies)) as pool:
        yield from pool.map(one, mutants)
    for copy in copies:
        shutil.rmtree(copy, ignore_errors=True)
