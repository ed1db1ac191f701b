#!/usr/bin/env python3
"""Mutation testing of the modules that guard patients and secrets and of those that render clinical facts.

Each module is mutated by mutmut (a pinned version, the `mutation` extra) in its own copy of the tree under
.mutation/<module>, against the fast unit tests that cover it (never the end-to-end tests); mutmut runs only the
tests that reach the mutated function. mutmut mutates code inside functions only, so the boundary modules get a
second pass (scripts/mutation_constants.py) that mutates their module-level regular expressions and constants one
at a time and runs the same tests. The results of each module are kept in docs/mutation.json and docs/mutation.md
is written from all of them: mutants, killed, survivors with their diff and, for those judged equivalent
(scripts/mutation_judged.py), why.

    scripts/mutation                   every module (about 3 hours on 2 shared cores: not part of CI)
    scripts/mutation boundary          the modules that guard a boundary, both passes (the one to re-run them)
    scripts/mutation render paging     only these modules; the others keep their last results in the doc
    scripts/mutation --pass constants  only one of the two passes (functions: mutmut; constants: the second)
    scripts/mutation urls --survivors  only the last survivors again, when the module's code is unchanged
    scripts/mutation --list            the modules and their tests
    scripts/mutation --doc             rewrite docs/mutation.md from docs/mutation.json (after editing the judgments)
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from mutation_constants import find_mutants, run_mutants
from mutation_judged import EQUIVALENT, IMPORT_TIME

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
    "paging": (("fhir/paging.py",), ("auth/test_urls.py", "serve/test_tools.py", "serve/test_newest_first.py")),
    "results": (("fhir/results.py",), ("fhir/test_results.py", "serve/test_tools.py")),
    "collect": (("answers/collect.py",), ("answers/test_collect.py", "answers/test_summary.py",
                                          "answers/test_answers.py", "answers/test_answer_budget.py")),
    "summary": (("answers/summary.py", "answers/medications.py"),
                ("answers/test_medications.py", "answers/test_current_medications.py",
                 "answers/test_summary_sections.py", "answers/test_summary.py", "answers/test_answers.py")),
    "guard": (("fhir/guard.py",), ("fhir/test_guard.py", "serve/test_tools.py", "answers/test_answers.py")),
    "render": (("render/datatypes.py", "render/elements.py", "render/specs.py", "render/terminology.py",
                "render/text.py"), ("render/test_render.py", "render/test_render_elements.py")),
    "validation": (("fhir/validation.py",), ("fhir/test_validation.py", "fhir/test_search_parameters.py",
                                             "fhir/test_bad_input.py")),
    "catalog": (("fhir/catalog.py",), ("fhir/test_search_parameters.py", "serve/test_tools.py")),
    "middleware": (("serve/middleware.py",), ("serve/test_middleware.py", "answers/test_answer_budget.py",
                                              "test_settings_reach.py", "test_secrets.py", "fhir/test_bad_input.py")),
    "redaction": (("redaction.py",), ("test_redaction.py", "test_secrets.py")),
    "patient_scope": (("access/patient_scope.py",), ("access/test_patient_scope.py", "access/test_allowlist.py",
                                                     "access/test_access.py")),
    "policy": (("access/policy.py",), ("access/test_policy.py", "access/test_allowlist.py", "access/test_access.py")),
    "oauth": (("access/oauth.py",), ("access/test_oauth.py", "access/test_access.py")),
    "clients": (("access/clients.py",), ("access/test_clients.py", "access/test_access.py")),
    "phi_scrub": (("phi/scrub.py",), ("phi/test_scrub.py", "phi/test_scrub_patterns.py", "phi/test_deidentify.py",
                                     "phi/test_phi.py")),
    "phi_dates": (("phi/dates.py",), ("phi/test_dates.py", "phi/test_phi.py")),
    "phi_resources": (("phi/resources.py",), ("phi/test_deidentify.py", "phi/test_deidentify_patient.py",
                                              "phi/test_deidentify_bundle.py", "phi/test_dates.py", "phi/test_phi.py")),
    "phi_client": (("phi/client.py",), ("phi/test_phi_client.py", "phi/test_phi_client_answers.py",
                                       "phi/test_phi.py")),
    "phi_pseudonyms": (("phi/pseudonyms.py",), ("phi/test_pseudonyms.py", "phi/test_phi.py")),
    "viewdef": (("population/viewdef.py",), ("population/test_population_views.py",
                                            "population/test_population_fastpath.py")),
    "sql_guard": (("population/sqlguard.py", "population/database.py"),
                  ("population/test_sql_guard.py", "population/test_population_db.py",
                   "population/test_population_tools.py")),
    "bulk_client": (("bulk/client.py",), ("population/test_bulk_client.py", "population/test_bulk_faults.py",
                                          "population/test_population_tools.py")),
}
# Modules mutated only in part: the functions and constants named (population/database.py also holds the loader;
# what runs a model's query is the SQL guard and the query-side functions of database.py).
ONLY: dict[str, tuple[str, ...]] = {"sql_guard": (
    "check_sql", "_first_problem", "refused_function", "_problems", "_table_problems", "_qualified", "first_line",
    "TABLE_FUNCTIONS", "CLOCK", "NOT_ACCEPTED",
    "HOST_PREFIXES", "HOST_FUNCTIONS", "NODES", "_connect", "query", "_plain", "QUERY_CONFIG")}
# The modules that guard a boundary (patients, secrets, PHI, the population data): both passes, and the group
# `scripts/mutation boundary` runs.
BOUNDARY = ("patient_scope", "policy", "middleware", "oauth", "clients", "redaction", "urls", "phi_scrub",
            "phi_dates", "phi_resources", "phi_client", "phi_pseudonyms", "viewdef", "sql_guard", "bulk_client")
GROUPS = {"boundary": BOUNDARY}
PASSES = ("functions", "constants")

# The wording of log lines is not mutated: what logs must never hold (secrets, patient data) is tested elsewhere,
# and their wording is no behaviour a user relies on.
LOG_LINE = r"^\s*logger\.(debug|info|warning|error)\("

def import_time(name: str) -> bool:
    return name.split("__mutmut_")[0] in IMPORT_TIME


STATUSES = ("killed", "survived", "no tests", "timeout", "suspicious", "caught by type check", "skipped", "segfault")


class Scored:
    """Detected mutants and the score, for a pass whose `counts` and `survivors` are known."""

    counts: dict[str, int]
    survivors: dict[str, str]

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
        return 0

    @property
    def score(self) -> float:
        """Detected mutants among those that can be detected at all (equivalent survivors left out)."""
        judged = self.total - self.equivalent - self.not_run
        return 100.0 * self.detected / judged if judged else 100.0


@dataclass
class ConstantsResult(Scored):
    """The second pass: module-level regular expressions and constants (scripts/mutation_constants.py)."""

    counts: dict[str, int]
    survivors: dict[str, str] = field(default_factory=dict)  # name -> what the mutant changed
    seconds: float = 0.0
    date: str = ""
    commit: str = ""
    source: str = ""  # sha256 of the module's files as mutated

    @property
    def total(self) -> int:
        """Mutants that import (a mutated expression that no longer compiles is not counted)."""
        return sum(n for status, n in self.counts.items() if status != "invalid")


@dataclass
class ModuleResult(Scored):
    module: str
    files: list[str]
    tests: list[str]
    counts: dict[str, int]
    survivors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    date: str = ""
    commit: str = ""
    constants: ConstantsResult | None = None
    statuses: dict[str, str] = field(default_factory=dict)  # each survivor's status (survived, no tests, ...)
    source: str = ""  # sha256 of the module's files as mutated

    def __post_init__(self) -> None:
        if isinstance(self.constants, dict):  # as read back from docs/mutation.json
            self.constants = ConstantsResult(**self.constants)

    @property
    def not_run(self) -> int:
        """Mutants of functions that run only at import: mutmut never runs them."""
        return sum(1 for name in self.survivors if import_time(name))

    @property
    def raw_score(self) -> float:
        return 100.0 * self.detected / self.total if self.total else 0.0

    @property
    def low(self) -> bool:
        return self.score < TARGET_SCORE or (self.constants is not None and self.constants.score < TARGET_SCORE)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def prepare(module: str, files: tuple[str, ...], tests: tuple[str, ...]) -> Path:
    """A fresh copy of src, tests and pyproject.toml with mutmut's settings for this module, and what tests read."""
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
    for read_by_tests in ("README.md", "docs"):  # tests that tie the README's tables to the code read them
        (where / read_by_tests).symlink_to(ROOT / read_by_tests)
    config = "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps([PACKAGE + f for f in files])}",
        'pytest_add_cli_args = ["-m", "not e2e", "-p", "no:cacheprovider", "-p", "no:randomly"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(['tests/' + t for t in tests])}",
        "use_git_change_detection = false",
        f"do_not_mutate_patterns = {json.dumps([LOG_LINE])}",
        'also_copy = ["README.md", "docs"]',
        "",
    ])
    (where / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + config)
    return where


def function_patterns(module: str) -> list[str]:
    """mutmut's names for the mutants of the functions ONLY names (all mutants when the module is whole)."""
    files, _ = MODULES[module]
    dotted = [PACKAGE.removeprefix("src/").replace("/", ".") + f.removesuffix(".py").replace("/", ".") for f in files]
    return [f"{d}.x_{name}__mutmut_*" for d in dotted for name in ONLY.get(module, ()) if not name.isupper()]


def source_hash(module: str) -> str:
    digest = hashlib.sha256()
    for name in MODULES[module][0]:
        digest.update((ROOT / PACKAGE / name).read_bytes())
    return digest.hexdigest()


def unchanged_since(module: str, source: str, commit: str) -> bool:
    """Whether the module's code is what was mutated: by its hash, or for results made before hashes were kept,
    by the files at the commit measured."""
    if source:
        return source == source_hash(module)
    shown = [subprocess.run(["git", "show", f"{commit.rstrip('+')}:{PACKAGE}{name}"], cwd=ROOT, capture_output=True,
                            check=False) for name in MODULES[module][0]]
    return all(s.returncode == 0 and s.stdout == (ROOT / PACKAGE / name).read_bytes()
               for s, name in zip(shown, MODULES[module][0], strict=True))


def run_functions(module: str, children: int, only: list[str] | None = None) -> ModuleResult:
    """The first pass: mutmut, on the code inside the module's functions (or only the mutants named)."""
    files, tests = MODULES[module]
    where = prepare(module, files, tests)
    started = time.monotonic()
    env = {**os.environ, "CI": "1"}  # the derandomized hypothesis profile: the same examples for every mutant
    patterns = only or function_patterns(module)
    with open(where / "mutmut.log", "w") as log:
        subprocess.run([str(MUTMUT), "run", "--max-children", str(children), *patterns], cwd=where, env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    listing = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=where, env=env, capture_output=True,
                             text=True, check=True).stdout
    counts = dict.fromkeys(STATUSES, 0)
    survivors, statuses = {}, {}
    for line in listing.splitlines():
        name, _, status = line.strip().partition(": ")
        if status not in counts or (patterns and not any(fnmatch.fnmatch(name, p) for p in patterns)):
            continue
        counts[status] += 1
        if status in ("survived", "no tests", "suspicious", "skipped", "segfault"):
            shown = subprocess.run([str(MUTMUT), "show", name], cwd=where, capture_output=True, text=True,
                                   check=False).stdout
            survivors[name] = "\n".join(line for line in shown.splitlines()[1:]
                                        if not line.startswith(("---", "+++", "@@")))
            statuses[name] = status
    if not any(counts.values()):
        raise SystemExit(f"mutmut produced no results for {module}; see {where / 'mutmut.log'}")
    return ModuleResult(module, list(files), list(tests), {k: v for k, v in counts.items() if v}, survivors,
                        round(seconds), *stamp(), statuses=statuses, source=source_hash(module))


def rerun_functions(module: str, children: int, previous: ModuleResult) -> ModuleResult:
    """The first pass again for the last survivors only (the module's code unchanged): their new status replaces
    the old one in the last counts."""
    names = [name for name in previous.survivors if not import_time(name)]
    if not names:
        return previous
    again = run_functions(module, children, only=names)
    counts = dict(previous.counts)
    survivors, statuses = dict(previous.survivors), dict(previous.statuses)
    for name in names:
        before, after = statuses.get(name, "survived"), again.statuses.get(name, "killed")
        counts[before] -= 1
        counts[after] = counts.get(after, 0) + 1
        if name not in again.survivors:
            survivors.pop(name)
            statuses.pop(name, None)
    return replace(previous, counts={k: v for k, v in counts.items() if v}, survivors=survivors, statuses=statuses,
                   tests=again.tests, seconds=previous.seconds + again.seconds, date=again.date, commit=again.commit,
                   source=again.source)


def stamp() -> tuple[str, str]:
    """Today's date and the commit measured (marked + when the work tree differs from it)."""
    dirty = "+" if git("status", "--porcelain", "--untracked-files=no", "--", "src", "tests") else ""
    return datetime.now(UTC).strftime("%Y-%m-%d"), git("rev-parse", "--short", "HEAD") + dirty


def run_constants(module: str, children: int, previous: ConstantsResult | None = None) -> ConstantsResult:
    """The second pass: each module-level regular expression and constant mutated, the module's tests run; with
    `previous`, only its survivors, whose new status replaces the old one in its counts."""
    files, tests = MODULES[module]
    mutants = find_mutants(ROOT, [PACKAGE + f for f in files])
    if module in ONLY:
        mutants = [m for m in mutants if m.name.split(":")[1].split("#")[0] in ONLY[module]]
    if previous is not None:
        mutants = [m for m in mutants if m.name in previous.survivors]
    started = time.monotonic()
    counts: dict[str, int] = {}
    survivors: dict[str, str] = {}
    for done, outcome in enumerate(run_mutants(ROOT, WORK / module, mutants, ["tests/" + t for t in tests],
                                               children), 1):
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == "survived":
            survivors[outcome.mutant.name] = outcome.mutant.description
        print(f"  {done}/{len(mutants)} {outcome.mutant.name}: {outcome.status}", file=sys.stderr, flush=True)
    seconds = round(time.monotonic() - started)
    if previous is not None:
        merged = dict(previous.counts)
        merged["survived"] -= len(mutants)
        for status, n in counts.items():
            merged[status] = merged.get(status, 0) + n
        counts, seconds = {k: v for k, v in merged.items() if v}, previous.seconds + seconds
    return ConstantsResult(counts, survivors, seconds, *stamp(), source=source_hash(module))


def load_results() -> dict[str, ModuleResult]:
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    return {module: ModuleResult(**data) for module, data in stored.items() if module in MODULES}


def write_whole(path: Path, text: str) -> None:
    """Replaces `path` at once: a test run reading the docs meanwhile sees the old file or the new one, never half."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def save_results(results: dict[str, ModuleResult]) -> None:
    write_whole(RESULTS, json.dumps({m: asdict(results[m]) for m in MODULES if m in results}, indent=1) + "\n")


def render_doc(results: dict[str, ModuleResult]) -> str:
    lines = [
        "# Mutation testing",
        "",
        "Written by `scripts/mutation` (mutmut, pinned in the `mutation` extra of pyproject.toml); do not edit by "
        "hand. Each module is mutated on its own against the fast unit tests that cover it (mutmut runs only the "
        "tests that reach the mutated function); the end-to-end tests are not used. A mutant is *killed* when a "
        "test fails, or when it hangs past mutmut's time limit (*timeout*, counted as detected). The wording of log "
        "lines (`logger.info(...)`) is not mutated: what logs must never hold is tested elsewhere.",
        "",
        "mutmut mutates code inside functions only. The modules that guard a boundary (a client's patients, "
        "secrets, PHI, the population data) get a second pass, `scripts/mutation_constants.py`, for what sits at "
        "module level: each regular expression loses one item of a character class, one branch of an alternation, "
        "an anchor or a lookaround, an optional part (made required, or left out), a case-insensitive flag, or has "
        "a quantifier changed by one; each other string becomes `XX...XX`, each number grows by one, each boolean "
        "flips, and each tuple, list, set or dict of them loses one member. Each such mutant is written into a copy "
        "of the tree and the module's tests run against it (`pytest -x`); a mutant that no longer imports (a "
        "regular expression that does not compile) is not counted. Type annotations (`Literal[...]`) are left "
        "alone. The other modules' declarative tables (the catalog's parameter names, the render specs' field "
        "lists) are pinned by tests of their own instead (tests/fhir/test_search_parameters.py, "
        "tests/render/test_render.py).",
        "",
        "It takes too long for CI on 2 cores (see *seconds*): run it after changing one of these modules, e.g. "
        "`scripts/mutation render`, and commit the updated doc; `scripts/mutation boundary` re-runs every boundary "
        f"module, both passes. The goal is at least {TARGET_SCORE:g}% detected in every module, in each pass. "
        "*score* counts the detected mutants among those a test could detect: survivors judged equivalent (listed "
        "below with the reason) and *import-time* survivors (mutants of functions that run only while the module "
        "is imported, such as the catalog's builders: mutmut switches mutants after the import, so they never "
        "run) are left out; *raw score* counts all. A commit marked `+` was measured with changes not yet "
        "committed. `scripts/mutation MODULE --survivors` runs only a module's last survivors again, and only when "
        "its code is unchanged (the same SHA-256, or for older results the same files as at the commit measured): "
        "their new status replaces the old one in the counts, *seconds* add up, and the date and commit are the "
        "re-run's.",
        "",
        "## Functions (mutmut)",
        "",
        "| module | mutants | killed | timeout | survived | of them equivalent | of them import-time | no tests | "
        "score | raw score | seconds | date | commit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for module in MODULES:
        r = results.get(module)
        if r is None or not r.counts:
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
    lines += ["", "## Module-level regular expressions and constants (second pass)", "",
              "| module | mutants | killed | timeout | survived | of them equivalent | not importable | score | "
              "seconds | date | commit |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for module in BOUNDARY:
        r = results.get(module)
        k = r.constants if r is not None else None
        if k is None:
            lines.append(f"| {module} | not run | | | | | | | | | |")
            continue
        lines.append(f"| {module} | {k.total} | {k.counts.get('killed', 0)} | {k.counts.get('timeout', 0)} | "
                     f"{k.counts.get('survived', 0)} | {k.equivalent} | {k.counts.get('invalid', 0)} | "
                     f"{k.score:.1f}% | {k.seconds:g} | {k.date} | {k.commit} |")
    lines += ["", "Command: `scripts/mutation [module ...]` (or `scripts/mutation boundary`); the tests of each "
                  "module:", ""]
    lines += [f"- {module}: {', '.join(PACKAGE + f for f in files)}"
              + (f" (only {', '.join(ONLY[module])})" if module in ONLY else "")
              + f" with {', '.join('tests/' + t for t in tests)}" for module, (files, tests) in MODULES.items()]
    lines += ["", "## Survivors", "",
              "Each mutant that no test detected, with its diff; those judged equivalent (no input the code can "
              "receive behaves differently) say why.", ""]
    for module in MODULES:
        r = results.get(module)
        constants = r.constants.survivors if r is not None and r.constants is not None else {}
        if r is None or not (r.survivors or constants):
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
        for name, description in constants.items():
            reason = EQUIVALENT.get(name, "not judged equivalent: a test is missing")
            lines += [f"- `{name}`: {reason}", "", "  ```text", f"  {description.replace('`', chr(39))}", "  ```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"modules or groups ({', '.join(GROUPS)}) to mutate (default: all)")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--doc", action="store_true", help="only rewrite docs/mutation.md from docs/mutation.json")
    parser.add_argument("--pass", dest="passes", choices=PASSES, action="append",
                        help="run only this pass (default: functions, and constants for the boundary modules)")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants run at once")
    parser.add_argument("--survivors", action="store_true",
                        help="run only the last survivors again (refused for a module whose code changed since)")
    args = parser.parse_args()
    if args.list:
        for module, (files, tests) in MODULES.items():
            marks = " (both passes)" if module in BOUNDARY else ""
            print(f"{module}{marks}: {' '.join(files)}  <-  {' '.join(tests)}")
        return 0
    chosen = [m for name in args.modules for m in GROUPS.get(name, (name,))] or list(MODULES)
    unknown = [m for m in chosen if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join([*GROUPS, *MODULES])}")
    passes = args.passes or PASSES
    for module in [] if args.doc else dict.fromkeys(chosen):
        result = load_results().get(module) or ModuleResult(module, [], [], {})
        if "functions" in passes:
            print(f"mutating {module} (functions) ...", file=sys.stderr, flush=True)
            if args.survivors and not unchanged_since(module, result.source, result.commit):
                parser.error(f"{module}: its code changed since the last run; run it whole")
            again = rerun_functions(module, args.children, result) if args.survivors else \
                run_functions(module, args.children)
            result = replace(again, constants=result.constants)
            print(f"{module}: {result.detected}/{result.total} detected ({result.score:.1f}%) in {result.seconds:g} s",
                  file=sys.stderr, flush=True)
        if "constants" in passes and module in BOUNDARY:
            print(f"mutating {module} (module-level constants) ...", file=sys.stderr, flush=True)
            previous = result.constants if args.survivors else None
            if previous is not None and not unchanged_since(module, previous.source, previous.commit):
                parser.error(f"{module}: its code changed since the last run; run it whole")
            result.constants = run_constants(module, args.children, previous)
            k = result.constants
            print(f"{module} constants: {k.detected}/{k.total} detected ({k.score:.1f}%) in {k.seconds:g} s",
                  file=sys.stderr, flush=True)
        results = load_results()  # read again: another run may have saved meanwhile
        results[module] = result
        save_results(results)
    results = load_results()
    write_whole(DOC, render_doc(results))
    low = [m for m, r in results.items() if r.low]
    if low:
        print(f"below {TARGET_SCORE:g}%: {', '.join(low)} (survivors in {DOC.relative_to(ROOT)})", file=sys.stderr)
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
