#!/usr/bin/env python3
"""Mutation testing of the modules that guard patients and secrets and of those that render clinical facts.

Each module is mutated by mutmut (a pinned version, the `mutation` extra) in its own copy of the tree under
.mutation/<module>, against the fast unit tests that cover it (never the end-to-end tests); mutmut runs only the
tests that reach the mutated function. The results of each module are kept in docs/mutation.json and
docs/mutation.md is written from all of them: mutants, killed, survivors with their diff and, for those judged
equivalent, why.

    scripts/mutation                   every module (35 to 60 minutes on 2 cores: not part of CI)
    scripts/mutation render paging     only these modules; the others keep their last results in the doc
    scripts/mutation --list            the modules and their tests
    scripts/mutation --doc             rewrite docs/mutation.md from docs/mutation.json (after editing EQUIVALENT)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
DOC = ROOT / "docs" / "mutation.md"
RESULTS = ROOT / "docs" / "mutation.json"
MUTMUT = Path(sys.executable).parent / "mutmut"
TARGET_SCORE = 90.0
PACKAGE = "src/epic_mcp/"

# module -> (files mutated, unit tests that cover them). The tests are the fast respx ones: mutmut records which
# of them reach each function and runs only those against its mutants.
MODULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "token": (("auth/token.py",), ("auth/test_token.py", "test_settings_reach.py", "test_secrets.py")),
    "assertion": (("auth/assertion.py",), ("auth/test_assertion.py", "test_settings_reach.py")),
    "urls": (("auth/urls.py",), ("auth/test_urls.py", "test_secrets.py", "fhir/test_fhir_client.py")),
    "paging": (("fhir/paging.py",), ("auth/test_urls.py", "serve/test_tools.py")),
    "results": (("fhir/results.py",), ("fhir/test_results.py", "serve/test_tools.py")),
    "collect": (("answers/collect.py",), ("answers/test_collect.py", "answers/test_summary.py",
                                          "answers/test_answers.py", "answers/test_answer_budget.py")),
    "summary": (("answers/summary.py", "answers/medications.py"),
                ("answers/test_medications.py", "answers/test_summary_sections.py", "answers/test_summary.py",
                 "answers/test_answers.py")),
    "guard": (("fhir/guard.py",), ("fhir/test_guard.py", "serve/test_tools.py", "answers/test_answers.py")),
    "render": (("render/datatypes.py", "render/elements.py", "render/specs.py", "render/terminology.py",
                "render/text.py"), ("render/test_render.py", "render/test_render_elements.py")),
    "validation": (("fhir/validation.py",), ("fhir/test_validation.py", "fhir/test_search_parameters.py",
                                             "fhir/test_bad_input.py")),
    "catalog": (("fhir/catalog.py",), ("fhir/test_search_parameters.py", "serve/test_tools.py")),
    "middleware": (("serve/middleware.py",), ("serve/test_middleware.py", "answers/test_answer_budget.py",
                                              "test_settings_reach.py", "test_secrets.py", "fhir/test_bad_input.py")),
    "redaction": (("redaction.py",), ("test_redaction.py", "test_secrets.py")),
}

# Survivors judged equivalent: the mutant behaves as the original for every input the code can receive. Keyed by
# mutmut's name; checked against the diff in docs/mutation.md when the code changes (names follow positions).
_ASCII_PATH = ("equivalent: httpx percent-encodes every URL it builds, so the raw path is always ASCII and "
               "decodes the same whatever the codec's spelling or error handler")
_FIRST_PART = "equivalent: the part before the first '?' is the same however many parts the split makes"
_DOT_SEGMENTS = ("equivalent: httpx removes '.' and '..' segments when it parses a URL, and an encoded one is caught "
                 "by the check before; this check stays as defence in depth should httpx ever keep them")
_METHOD_CASE = "equivalent: httpx sends the method in capitals however it is spelled"
_HEADER_CASE = "equivalent: HTTP header names are case-insensitive and httpx treats them so"
_UNREACHABLE = "equivalent: the retry loop returns or raises on its last attempt, so this line never runs"
_IGNORES_RESOURCE = "equivalent: the renderer called here does not use the resource it is handed"
_NO_REFERENCE = ("equivalent: the resource only serves to resolve a reference to a contained resource ('#id'), and "
                 "this element's FHIR types admit no Reference")
_RENDERED_EXTENSIONS = ("equivalent for every extension rendered this way (Epic's specialty, sex, race, ethnicity, "
                        "pronouns, temperature): they hold codes, strings and quantities, never a contained reference")
_NO_URL = "equivalent: an extension without a url ends with no suffix, whatever text stands in for the missing url"
_LAST_PART = "equivalent: the last part is the same however many splits are made"
_MISSING_RATIO = "equivalent: a missing Ratio renders as nothing whether or not the guard before it runs"
_JSON_MODE = ("equivalent: MCP results hold only strings, numbers, booleans, lists and objects, which pydantic "
              "dumps the same in python and JSON mode (an unknown mode is python mode)")
_CODEC_CASE = "equivalent: Python looks codecs up by name case-insensitively ('ASCII' is 'ascii')"
_RANDOM_KEY = ("equivalent: without EPIC_MCP_CURSOR_KEY the key material is random bytes only this process knows; "
               "HKDF derives a 32-byte key from any number of them (token_bytes(None) is 32 bytes)")
_NONE_DROPPED = "equivalent: values that are None are dropped just before, so a default of None never equals one"
_NAMED_BY_CODE = ("equivalent: a problem with codes always has a name (concept_label falls back to its first code), "
                  "so the default for a missing name is never used")
_FIELDS_SKIP = "equivalent: fields() leaves out id and resourceType itself, so leaving them out here changes nothing"
_TYPED_RECORDS = ("equivalent: every record of a section keeps its resourceType, so none has the type '' (nor None, "
                  "nor 'XXXX') and each line names its type either way")
EQUIVALENT: dict[str, str] = {
    "epic_mcp.fhir.paging.x__unb64__mutmut_6": (
        "equivalent: a cursor's length leaves 0, 2 or 3 characters in its last group (padded alike by 0 or 2 '=', "
        "and by 1 or 3, which Python's base64 decodes the same: padding past the group is ignored), or 1, which no "
        "padding makes valid"),
    "epic_mcp.fhir.paging.xǁCursorCodecǁ__init____mutmut_10": "equivalent: HKDF's salt is None when not given",
    "epic_mcp.fhir.paging.xǁCursorCodecǁ__init____mutmut_16": _RANDOM_KEY,
    "epic_mcp.fhir.paging.xǁCursorCodecǁ__init____mutmut_17": _RANDOM_KEY,
    "epic_mcp.fhir.paging.xǁCursorCodecǁencode__mutmut_21": _CODEC_CASE,
    "epic_mcp.fhir.paging.xǁCursorCodecǁdecode__mutmut_25": _CODEC_CASE,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_4": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_5": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_15": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_16": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_17": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_9": _FIRST_PART,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_12": _FIRST_PART,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_25": _DOT_SEGMENTS,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_26": _DOT_SEGMENTS,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_27": _DOT_SEGMENTS,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_28": _DOT_SEGMENTS,
    "epic_mcp.redaction.xǁRedactorǁremember__mutmut_9": (
        "equivalent: two remembered secrets can match at the same place only when one starts the other, and then "
        "reverse text order puts the longer first just as length does"),
    "epic_mcp.redaction.xǁRedactorǁremember__mutmut_12": (
        "equivalent: as mutmut_9 (sorting the strings themselves, in reverse, puts a longer secret before a prefix "
        "of it)"),
    "epic_mcp.fhir.results.x__patient_id__mutmut_16": _FIRST_PART.replace("'?'", "'/'"),
    "epic_mcp.fhir.results.x__patient_id__mutmut_29": _FIRST_PART.replace("'?'", "'/'"),
    "epic_mcp.fhir.results.x_ignored_parameters__mutmut_31": _FIRST_PART.replace("'?'", "'='"),
    "epic_mcp.fhir.results.x_ignored_parameters__mutmut_34": _FIRST_PART.replace("'?'", "'='"),
    "epic_mcp.fhir.results.x_linked_patients__mutmut_16": (
        "equivalent: an Appointment has no subject, patient or beneficiary element; its patients are only among its "
        "participants"),
    "epic_mcp.fhir.results.x_reported_total__mutmut_6": (
        "equivalent: when the server's total equals the results seen, either branch gives that same number"),
    "epic_mcp.fhir.catalog.x__ordered__mutmut_9": (
        "equivalent: every argument of an alternative is a parameter of the operation, so the default is never used"),
    "epic_mcp.fhir.catalog.x__ordered__mutmut_11": (
        "equivalent: every argument of an alternative is a parameter of the operation, so the default is never used"),
    "epic_mcp.auth.token.xǁTokenManagerǁget_token__mutmut_1": (
        "equivalent: refresh() returns the cached token itself while it is fresh; get_token's check only saves a call"),
    "epic_mcp.auth.token.xǁTokenManagerǁget_token__mutmut_5": (
        "equivalent: refresh() returns the cached token itself while it is fresh; get_token's check only saves a call"),
    "epic_mcp.auth.token.xǁTokenManagerǁ_discover_token_url__mutmut_12": _METHOD_CASE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_request_token__mutmut_30": _METHOD_CASE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_discover_token_url__mutmut_17": _HEADER_CASE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_discover_token_url__mutmut_18": _HEADER_CASE,
    "epic_mcp.auth.token.xǁBearerAuthǁasync_auth_flow__mutmut_16": _HEADER_CASE,
    "epic_mcp.auth.token.xǁBearerAuthǁasync_auth_flow__mutmut_17": _HEADER_CASE,
    "epic_mcp.auth.token.xǁBearerAuthǁasync_auth_flow__mutmut_25": _HEADER_CASE,
    "epic_mcp.auth.token.xǁBearerAuthǁasync_auth_flow__mutmut_26": _HEADER_CASE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_request_token__mutmut_14": (
        "equivalent: the client assertion is a JWT, which the JWT shape rule redacts whether or not it is remembered"),
    "epic_mcp.auth.token.xǁTokenManagerǁ_send_with_retry__mutmut_30": _UNREACHABLE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_send_with_retry__mutmut_31": _UNREACHABLE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_send_with_retry__mutmut_32": _UNREACHABLE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_parse_token_response__mutmut_2": (
        "equivalent: a body that is not JSON is refused as not a JSON object, whether it is read as None or ''"),
    "epic_mcp.render.elements.x_reactions__mutmut_9": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_reactions__mutmut_34": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_participants__mutmut_38": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_care_plan_activities__mutmut_26": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_provisions__mutmut_17": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_eob_items__mutmut_34": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_components__mutmut_25": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_components__mutmut_34": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_dosages__mutmut_119": _IGNORES_RESOURCE,
    "epic_mcp.render.datatypes.x_choice__mutmut_42": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_components__mutmut_16": _NO_REFERENCE,
    "epic_mcp.render.elements.x_dosages__mutmut_45": _NO_REFERENCE,
    "epic_mcp.render.elements.x_dosages__mutmut_106": _NO_REFERENCE,
    "epic_mcp.render.elements.x_family_conditions__mutmut_22": _NO_REFERENCE,
    "epic_mcp.render.elements.x_ingredients__mutmut_17": _NO_REFERENCE,
    "epic_mcp.render.elements.x_participants__mutmut_54": _RENDERED_EXTENSIONS,
    "epic_mcp.render.specs.x__extension_field__mutmut_4": _RENDERED_EXTENSIONS,
    "epic_mcp.render.specs.x__extension_field__mutmut_11": _RENDERED_EXTENSIONS,
    "epic_mcp.render.specs.x__extension__mutmut_14": _RENDERED_EXTENSIONS,
    "epic_mcp.render.elements.x_participants__mutmut_65": _NO_URL,
    "epic_mcp.render.elements.x_participants__mutmut_67": _NO_URL,
    "epic_mcp.render.elements.x_participants__mutmut_70": _NO_URL,
    "epic_mcp.render.specs.x__extension__mutmut_7": _NO_URL,
    "epic_mcp.render.specs.x__extension__mutmut_9": _NO_URL,
    "epic_mcp.render.specs.x__extension__mutmut_12": _NO_URL,
    "epic_mcp.render.datatypes.x_extension_name__mutmut_4": _LAST_PART,
    "epic_mcp.render.datatypes.x_extension_name__mutmut_10": _LAST_PART,
    "epic_mcp.render.elements.x_dosages__mutmut_104": _MISSING_RATIO,
    "epic_mcp.render.elements.x_ingredients__mutmut_15": _MISSING_RATIO,
    "epic_mcp.render.datatypes.x_coding__mutmut_2": (
        "equivalent: concept() skips codings that are not objects, so a non-object Coding renders nothing either way"),
    "epic_mcp.render.text.x_as_json__mutmut_3": (
        "equivalent: ensure_ascii=None is falsy, as False is"),
    "epic_mcp.render.text.x_item_lines__mutmut_6": (
        "equivalent: records on a page have different ids, so an id is never a field every record shares"),
    "epic_mcp.render.text.x_item_lines__mutmut_7": (
        "equivalent: records on a page have different ids, so an id is never a field every record shares"),
    "epic_mcp.render.elements.x_issued_if_later__mutmut_30": (
        "equivalent: no FHIR date or instant is 11 characters long"),
    "epic_mcp.answers.collect.x__sortable__mutmut_2": (
        "equivalent: no FHIR date or dateTime is 11 characters long"),
    "epic_mcp.answers.medications.x__ended_stay__mutmut_19": _LAST_PART,
    "epic_mcp.answers.medications.x__ended_stay__mutmut_23": _LAST_PART,
    "epic_mcp.answers.medications.x__supply_end__mutmut_40": "equivalent: no refills and zero refills both add no fill",
    "epic_mcp.answers.medications.x__days__mutmut_16": "equivalent: neither '' nor 'xxxx' is a unit UNIT_DAYS knows",
    "epic_mcp.answers.summary.x__medications__mutmut_25": (
        "equivalent: stale_reason reads a patient only when there is one, and '' is no more a patient than None"),
    "epic_mcp.answers.summary.x_summary_text__mutmut_1": (
        "equivalent: its only caller (server.py) always says whether sections were chosen"),
    "epic_mcp.answers.summary.x_summary_text__mutmut_25": _TYPED_RECORDS,
    "epic_mcp.answers.summary.x_summary_text__mutmut_29": _TYPED_RECORDS,
    "epic_mcp.answers.summary.x_summary_text__mutmut_33": _TYPED_RECORDS,
    "epic_mcp.answers.summary.x_summary_text__mutmut_37": _TYPED_RECORDS,
    "epic_mcp.answers.summary.x__problem__mutmut_62": _NONE_DROPPED,
    "epic_mcp.answers.summary.x__problem__mutmut_64": _NONE_DROPPED,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_43": _NAMED_BY_CODE,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_45": _NAMED_BY_CODE,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_48": _NAMED_BY_CODE,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_94": _FIELDS_SKIP,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_95": _FIELDS_SKIP,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_96": _FIELDS_SKIP,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_97": _FIELDS_SKIP,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_98": _FIELDS_SKIP,
    "epic_mcp.render.datatypes.x_period__mutmut_18": (
        "equivalent: no FHIR date or dateTime is 11 characters long"),
    "epic_mcp.fhir.guard.x_fhir_id_aliases__mutmut_30": (
        "equivalent: an identifier without a system never ends with fhir-id, whatever stands in for the missing "
        "system"),
    "epic_mcp.serve.middleware.xǁAnswerBudgetǁ__call____mutmut_9": _JSON_MODE,
    "epic_mcp.serve.middleware.xǁAnswerBudgetǁ__call____mutmut_12": _JSON_MODE,
    "epic_mcp.serve.middleware.xǁAnswerBudgetǁ__call____mutmut_15": _JSON_MODE,
    "epic_mcp.serve.middleware.xǁAnswerBudgetǁ__call____mutmut_16": _JSON_MODE,
    "epic_mcp.serve.middleware.x_redact_answers__mutmut_16": _JSON_MODE,
    "epic_mcp.serve.middleware.x_redact_answers__mutmut_19": _JSON_MODE,
    "epic_mcp.serve.middleware.x_redact_answers__mutmut_22": _JSON_MODE,
    "epic_mcp.serve.middleware.x_redact_answers__mutmut_23": _JSON_MODE,
    "epic_mcp.auth.assertion.xǁAssertionSignerǁsign__mutmut_38": (
        "equivalent: PyJWT signs with the header's alg when one is given, and the header always names it"),
    "epic_mcp.auth.assertion.xǁAssertionSignerǁsign__mutmut_42": (
        "equivalent: PyJWT signs with the header's alg when one is given, and the header always names it"),
}

# The wording of log lines is not mutated: what logs must never hold (secrets, patient data) is tested elsewhere,
# and their wording is no behaviour a user relies on.
LOG_LINE = r"^\s*logger\.(debug|info|warning|error)\("

# Functions that run only while their module is imported (the builders of the catalog and of the render specs):
# mutmut switches mutants at call time, after the import, so their mutants never run. They are counted apart and
# left out of the score; the tables they build are pinned by tests of their own.
IMPORT_TIME: dict[str, str] = {
    "epic_mcp.fhir.catalog.x_need": "tests/fhir/test_search_parameters.py pins Epic's rules",
    "epic_mcp.fhir.catalog.x_read": ("tests/fhir/test_search_parameters.py and tests/serve/test_tools.py pin every "
                                     "tool"),
    "epic_mcp.fhir.catalog.x_patient_search": ("tests/fhir/test_search_parameters.py pins every search and its "
                                               "parameters"),
    "epic_mcp.fhir.catalog.x_date_param": "tests/fhir/test_search_parameters.py pins every date parameter",
    "epic_mcp.render.specs.x_f": "tests/render/test_render.py pins the fields of every resource type",
    "epic_mcp.render.specs.x_ext": ("tests/render/test_render.py and tests/render/test_render_elements.py pin the "
                                    "extension fields"),
}


def import_time(name: str) -> bool:
    return name.split("__mutmut_")[0] in IMPORT_TIME


STATUSES = ("killed", "survived", "no tests", "timeout", "suspicious", "caught by type check", "skipped", "segfault")


@dataclass
class ModuleResult:
    module: str
    files: list[str]
    tests: list[str]
    counts: dict[str, int]
    survivors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    date: str = ""
    commit: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def detected(self) -> int:
        """Killed by a test, or stopped by the time limit (a mutant that hangs is caught, not missed)."""
        return self.counts.get("killed", 0) + self.counts.get("timeout", 0)

    @property
    def equivalent(self) -> int:
        return sum(1 for name in self.survivors if name in EQUIVALENT)

    @property
    def not_run(self) -> int:
        """Mutants of functions that run only at import: mutmut never runs them."""
        return sum(1 for name in self.survivors if import_time(name))

    @property
    def score(self) -> float:
        """Detected mutants among those that can be detected at all (equivalent survivors left out)."""
        judged = self.total - self.equivalent - self.not_run
        return 100.0 * self.detected / judged if judged else 100.0

    @property
    def raw_score(self) -> float:
        return 100.0 * self.detected / self.total if self.total else 0.0


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def prepare(module: str, files: tuple[str, ...], tests: tuple[str, ...]) -> Path:
    """A fresh copy of src, tests and pyproject.toml with mutmut's settings for this module."""
    missing = [t for t in tests if not (ROOT / "tests" / t).is_file()]
    if missing:
        raise SystemExit(f"{module}: no tests/{', tests/'.join(missing)}; fix MODULES in scripts/mutation.py")
    where = WORK / module
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    shutil.copytree(ROOT / "src", where / "src", ignore=shutil.ignore_patterns("__pycache__", "*.gz"))
    for data in (ROOT / "src").rglob("*.gz"):  # the sandbox data, for imports that look for it
        (where / data.relative_to(ROOT)).symlink_to(data)
    shutil.copytree(ROOT / "tests", where / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "node_modules", "inspector", "oauth"))
    config = "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps([PACKAGE + f for f in files])}",
        'pytest_add_cli_args = ["-m", "not e2e", "-p", "no:cacheprovider"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(['tests/' + t for t in tests])}",
        "use_git_change_detection = false",
        f"do_not_mutate_patterns = {json.dumps([LOG_LINE])}",
        "",
    ])
    (where / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + config)
    return where


def run_module(module: str, children: int) -> ModuleResult:
    files, tests = MODULES[module]
    where = prepare(module, files, tests)
    started = time.monotonic()
    env = {**os.environ, "CI": "1"}  # the derandomized hypothesis profile: the same examples for every mutant
    with open(where / "mutmut.log", "w") as log:
        subprocess.run([str(MUTMUT), "run", "--max-children", str(children)], cwd=where, env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    listing = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=where, env=env, capture_output=True,
                             text=True, check=True).stdout
    counts = dict.fromkeys(STATUSES, 0)
    survivors = {}
    for line in listing.splitlines():
        name, _, status = line.strip().partition(": ")
        if status not in counts:
            continue
        counts[status] += 1
        if status in ("survived", "no tests", "suspicious", "skipped", "segfault"):
            shown = subprocess.run([str(MUTMUT), "show", name], cwd=where, capture_output=True, text=True,
                                   check=False).stdout
            survivors[name] = "\n".join(line for line in shown.splitlines()[1:]
                                        if not line.startswith(("---", "+++", "@@")))
    if not any(counts.values()):
        raise SystemExit(f"mutmut produced no results for {module}; see {where / 'mutmut.log'}")
    return ModuleResult(module, list(files), list(tests), {k: v for k, v in counts.items() if v}, survivors,
                        round(seconds), datetime.now(UTC).strftime("%Y-%m-%d"), git("rev-parse", "--short", "HEAD"))


def load_results() -> dict[str, ModuleResult]:
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    return {module: ModuleResult(**data) for module, data in stored.items() if module in MODULES}


def save_results(results: dict[str, ModuleResult]) -> None:
    RESULTS.write_text(json.dumps({m: asdict(results[m]) for m in MODULES if m in results}, indent=1) + "\n")


def render_doc(results: dict[str, ModuleResult]) -> str:
    lines = [
        "# Mutation testing",
        "",
        "Written by `scripts/mutation` (mutmut, pinned in the `mutation` extra of pyproject.toml); do not edit by "
        "hand. Each module is mutated on its own against the fast unit tests that cover it (mutmut runs only the "
        "tests that reach the mutated function); the end-to-end tests are not used. A mutant is *killed* when a "
        "test fails, or when it hangs past mutmut's time limit (*timeout*, counted as detected). mutmut mutates "
        "code inside functions only: declarative tables (the catalog's parameter names, the render specs' field "
        "lists) are pinned by tests of their own instead (tests/fhir/test_search_parameters.py, "
        "tests/render/test_render.py). The wording of log lines (`logger.info(...)`) is not mutated: what logs "
        "must never hold is tested elsewhere.",
        "",
        "It takes too long for CI on 2 cores (see *seconds*): run it after changing one of these modules, e.g. "
        "`scripts/mutation render`, and commit the updated doc. The goal is at least "
        f"{TARGET_SCORE:g}% detected in every module. *score* counts the detected mutants among those a test could "
        "detect: survivors judged equivalent (listed below with the reason) and *import-time* survivors (mutants of "
        "functions that run only while the module is imported, such as the catalog's builders: mutmut switches "
        "mutants after the import, so they never run) are left out; *raw score* counts all.",
        "",
        "| module | mutants | killed | timeout | survived | of them equivalent | of them import-time | no tests | "
        "score | raw score | seconds | date | commit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for module in MODULES:
        r = results.get(module)
        if r is None:
            lines.append(f"| {module} | not run | | | | | | | | | | | |")
            continue
        c = r.counts
        lines.append(f"| {module} | {r.total} | {c.get('killed', 0)} | {c.get('timeout', 0)} | "
                     f"{c.get('survived', 0)} | {r.equivalent} | {r.not_run} | {c.get('no tests', 0)} | "
                     f"{r.score:.1f}% | {r.raw_score:.1f}% | {r.seconds:g} | {r.date} | {r.commit} |")
    total = sum(r.total for r in results.values())
    detected = sum(r.detected for r in results.values())
    seconds = sum(r.seconds for r in results.values())
    if total:
        lines += ["", f"All modules: {detected} of {total} mutants detected ({100 * detected / total:.1f}%) in "
                      f"{seconds / 60:.0f} minutes."]
    lines += ["", "Command: `scripts/mutation [module ...]`; the tests of each module:", ""]
    lines += [f"- {module}: {', '.join(PACKAGE + f for f in files)} with {', '.join('tests/' + t for t in tests)}"
              for module, (files, tests) in MODULES.items()]
    lines += ["", "## Survivors", "",
              "Each mutant that no test detected, with its diff; those judged equivalent (no input the code can "
              "receive behaves differently) say why.", ""]
    for module in MODULES:
        r = results.get(module)
        if r is None or not r.survivors:
            continue
        lines += [f"### {module}", ""]
        skipped = sorted({name.split("__mutmut_")[0] for name in r.survivors if import_time(name)})
        if skipped:
            lines += [f"- import-time, never run by mutmut: {r.not_run} mutants of "
                      + "; ".join(f"`{f.rsplit('.', 1)[-1][2:]}` ({IMPORT_TIME[f]})" for f in skipped), ""]
        for name, diff in r.survivors.items():
            if import_time(name):
                continue
            reason = EQUIVALENT.get(name, "not judged equivalent: a test is missing")
            changed = [d for d in diff.splitlines() if d.startswith(("-", "+"))]
            lines += [f"- `{name}`: {reason}", "", "  ```diff", *("  " + d for d in changed), "  ```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all)")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--doc", action="store_true", help="only rewrite docs/mutation.md from docs/mutation.json")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants run at once")
    args = parser.parse_args()
    if args.list:
        for module, (files, tests) in MODULES.items():
            print(f"{module}: {' '.join(files)}  <-  {' '.join(tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    for module in [] if args.doc else args.modules or list(MODULES):
        print(f"mutating {module} ...", file=sys.stderr, flush=True)
        result = run_module(module, args.children)
        results = load_results()
        results[module] = result
        save_results(results)
        print(f"{module}: {result.detected}/{result.total} detected ({result.score:.1f}%) in {result.seconds:g} s",
              file=sys.stderr, flush=True)
    results = load_results()
    DOC.write_text(render_doc(results))
    low = [m for m, r in results.items() if r.score < TARGET_SCORE]
    if low:
        print(f"below {TARGET_SCORE:g}%: {', '.join(low)} (survivors in {DOC.relative_to(ROOT)})", file=sys.stderr)
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
