"""scripts/mutation_constants.py, the second pass of mutation testing: which mutants it makes of module-level
regular expressions and constants (a mutant it fails to make is a bug no score can show)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

# Loaded from its file, without putting scripts/ on sys.path for the tests that run after this one.
_SPEC = importlib.util.spec_from_file_location(
    "mutation_constants", Path(__file__).resolve().parents[1] / "scripts" / "mutation_constants.py")
assert _SPEC is not None and _SPEC.loader is not None
mutation_constants = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("mutation_constants", mutation_constants)  # dataclasses look their module up by name
_SPEC.loader.exec_module(mutation_constants)
find_mutants, regex_mutants = mutation_constants.find_mutants, mutation_constants.regex_mutants


def mutated(pattern: str) -> set[str]:
    return {mutant for mutant, _ in regex_mutants(pattern)}


def test_a_character_class_loses_each_item_in_turn() -> None:
    assert mutated(r"[\s.-]") == {r"[.-]", r"[\s-]", r"[\s.]"}
    assert mutated(r"[A-Za-z0-9_]") == {"[a-z0-9_]", "[A-Z0-9_]", "[A-Za-z_]", "[A-Za-z0-9]"}
    assert mutated("[^/?#]") == {"[^?#]", "[^/#]", "[^/?]"}


def test_an_alternation_loses_each_branch_and_a_lookaround_or_anchor_goes() -> None:
    assert mutated("%(2e|2f|5c)") == {"%(2f|5c)", "%(2e|5c)", "%(2e|2f)"}
    assert mutated(r"^a|b$") == {"a|b$", "^a|b", "b$", "^a"}
    assert mutated(r"(?<![\w/])x\b") == {r"x\b", r"(?<![/])x\b", r"(?<![\w])x\b", r"(?<![\w/])x"}


def test_quantifiers_ask_for_one_more_or_one_fewer_and_optional_parts_become_required_or_go() -> None:
    assert mutated(r"\d{2,3}") == {r"\d{3,3}", r"\d{2,2}"}
    assert mutated(r"a{8,}=*") == {"a{9,}=*", "a{8,}=+"}
    assert mutated("(?:ab)?c+") == {"(?:ab)c+", "c+", "(?:ab)?c"}
    assert mutated("x*?y") == {"x+?y"}


def test_named_groups_backreferences_and_inline_flags_are_understood() -> None:
    assert mutated("(?P<sep>[/.])(?P=sep)") == {"(?P<sep>[.])(?P=sep)", "(?P<sep>[/])(?P=sep)"}
    assert mutated("(?i:bearer)") == {"(?:bearer)"}


@pytest.mark.parametrize("pattern", [r"(?<![\w/])(?:\+?1[\s.-]?)?\(?\b\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}\b",
                                     r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?",
                                     r"(?:[dD]ate|^start|On|^occurrence.*)$"])
def test_every_mutant_of_a_whole_expression_compiles(pattern: str) -> None:
    mutants = regex_mutants(pattern)
    assert len(mutants) > 5
    for mutant, why in mutants:
        re.compile(mutant)
        assert mutant != pattern and why


SAMPLE = '''import logging
import re
from typing import Literal

logger = logging.getLogger(__name__)
Kind = Literal["text", "number"]
LIMIT = 8
ENABLED = True
LABEL = "[name]"
KINDS = frozenset({"a", "b"})
ONE = ("get_patient",)
TABLE = {"x": "text", "y": 2}
PAIRS = [(re.compile(r"[ab]c", re.I), LABEL)]
LOW, HIGH = 30, 365
'''


def test_a_module_s_constants_each_get_their_mutants(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(SAMPLE)
    mutants = find_mutants(tmp_path, ["sample.py"])
    by_name = {m.name.split(":")[1]: m for m in mutants}
    described = {(m.name.split(":")[1].split("#")[0], m.description) for m in mutants}
    assert not [m for m in mutants if m.name.split(":")[1].startswith(("logger", "Kind"))], "no logger, no types"
    assert {("LIMIT", "8 -> 9"), ("ENABLED", "True -> False"), ("LABEL", "'[name]' -> 'XX...XX'"),
            ("KINDS", 'without the member "a"'), ("KINDS", 'without the member "b"'),
            ("ONE", "'get_patient' -> 'XX...XX'"), ("TABLE", 'without the member "x": ...'),
            ("TABLE", "'text' -> 'XX...XX'"), ("TABLE", "2 -> 3"), ("PAIRS", "without the flag re.I"),
            ("(LOW, HIGH)", "30 -> 31"), ("(LOW, HIGH)", "365 -> 366")} <= described
    assert {d for n, d in described if n == "PAIRS"} >= {"regex '[ab]c': [ab] without 'a'",
                                                         "regex '[ab]c': [ab] without 'b'"}
    assert not [d for n, d in described if n == "PAIRS" and "member" in d], "a record's fields are not left out"
    source = SAMPLE.encode()
    for mutant in mutants:  # each mutant is valid Python that differs from the module
        changed = source[:mutant.start] + mutant.replacement.encode() + source[mutant.end:]
        assert changed != source
        compile(changed, "sample.py", "exec")
    assert by_name["LIMIT#1"].replacement == "9"
