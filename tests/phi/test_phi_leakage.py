"""PHI leakage evaluation: every tool, resource and prompt of the real stdio server in the minimum PHI mode, for
every patient of two synthetic data sets (the sandbox's, and clinosim's Japanese hospital with notes that quote
the patients' own identifiers), against sekmet on loopback. Every output is scanned for every direct identifier
of every patient, taken from the raw data. The counts go to docs/phi-leakage.md (written by this test).

Two controls show the scan finds what it looks for: the same driver in the full mode must find every category of
identifier, and the minimum mode with date shifting turned off must find real dates and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.fhir.catalog import CATALOG
from epic_mcp.phi.pseudonyms import PseudonymCodec
from epic_mcp.sandbox import data_set
from epic_mcp.settings import LOCAL_CLIENT_ID, load_settings

from ..conftest import report_path, run_today
from ..sekmet_server import SekmetServer
from .phi_leakage import (
    DIRECTORY,
    MONTHS,
    READ_OPS,
    SEARCH_OPS,
    Needle,
    Output,
    Run,
    call,
    clinician_names,
    dates_to_scan,
    eval_data_set,
    needles_of,
    real_dates,
    records_of,
    search_arguments,
    walk_search,
)

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

SECRET = "leakage-evaluation-secret-0123456789abcdef"
# One clock for the data and the server: the sandbox data is dated for this day, and the server's "today" is it.
TODAY = run_today()
# What a server might print that is computed from today: today, tomorrow, and the edges of the page walker's
# windows (collect.WINDOW_EDGES). In the patient's moved frame each of them gives the secret offset away.
DAYS_FROM_TODAY = (0, -1, 1, 90, 365, 3 * 365, 10 * 365)
CLIENT = LOCAL_CLIENT_ID  # EPIC_ENV=local is its own app: its client id and the sandbox folder's key
READS_PER_TYPE = 3
CODES_PER_PATIENT = 12


@dataclass
class DataSet:
    name: str
    description: str
    resources: list[dict[str, Any]]
    loaded: str  # the name of its loaded sekmet data folder (tests/sekmet_data.py)

    @property
    def patients(self) -> list[dict[str, Any]]:
        return sorted((r for r in self.resources if r["resourceType"] == "Patient"), key=lambda p: p["id"])


DATA_SETS = [
    DataSet("sandbox", "the local sandbox's data (clinosim US, seed 42, mapped onto Epic's 7 test patients)",
            data_set(run_today())["resources"], "bundled"),
    DataSet("clinosim-jp", "clinosim JP, seed 7: 6 patients, notes quoting their own identifiers "
            "(tests/data/phi-eval.json.gz, scripts/build-phi-eval-data)", eval_data_set()["resources"], "phi-eval"),
]


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("phi-keys") / "client.key"
    write_private_key(generate_key(), path)
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, key: Path, loaded_data) -> Iterator[dict[str, SekmetServer]]:
    jwks = KeyRing.from_settings(load_settings(None, private_key_path=str(key))).jwks()
    started: dict[str, SekmetServer] = {}
    try:
        for data in DATA_SETS:
            server = SekmetServer(tmp_path_factory.mktemp(f"phi-{data.name}"),
                                  [{"client_id": CLIENT, "jwks": jwks, "scopes": "system/*.read"}],
                                  data=loaded_data.folder(data.loaded, data.resources)).start()
            started[data.name] = server
        yield started
    finally:
        for server in started.values():
            server.stop()


def stdio(server: SekmetServer, key: Path, folder: Path, **settings: str) -> StdioServerParameters:
    """The server as an MCP client starts it, on the local sandbox (so find_test_patients has patients)."""
    sandbox_key = folder / "sandbox" / "keys" / "client.key"
    if not sandbox_key.exists():
        sandbox_key.parent.mkdir(parents=True)
        shutil.copyfile(key, sandbox_key)
        sandbox_key.chmod(0o600)
    env = {"PATH": os.environ["PATH"], "HOME": str(folder), "EPIC_ENV": "local", "EPIC_SANDBOX_PORT": str(server.port),
           "EPIC_SANDBOX_DIR": str(folder / "sandbox"), "EPIC_TODAY": TODAY.isoformat(), "EPIC_LOG_LEVEL": "WARNING",
           "EPIC_TOOLS": "all", **settings}
    return StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp"], env=env, cwd="/")


MINIMUM = {"EPIC_PHI_MODE": "minimum", "EPIC_PHI_SECRET": SECRET}


# The driver ----------------------------------------------------------------------------------------------

async def drive(params: StdioServerParameters, data: DataSet, patients: list[dict[str, Any]]) -> Run:
    run = Run()
    async with Client(params) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        await call(run, client, "find_test_patients", {}, None)
        await call(run, client, "check_connection", {}, None)
        for uri in ("epic://jwks", "epic://config", "epic://status"):
            run.resources.add(uri)
            run.keep(uri, None, await client.read_resource(uri))
        for number, patient in enumerate(patients, 1):
            await drive_patient(run, client, data, patient, f"{data.name} patient {number}")
        await drive_directory(run, client, data)
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
    assert listed <= run.tools, f"not exercised: {sorted(listed - run.tools)}"
    assert prompts <= run.prompts
    return run


async def drive_patient(run: Run, client: Client, data: DataSet, patient: dict[str, Any], label: str) -> None:
    records = records_of(data.resources, patient["id"])
    found = await call(run, client, "search_patients", {"identifier": patient["identifier"][0]["value"],
                                                         "format": "raw"}, label)
    assert not found.is_error and found.structured_content["total"] == 1, found.content[0].text
    pid = found.structured_content["items"][0]["id"]
    name = patient["name"][0]
    await call(run, client, "search_patients", {"family": name["family"], "given": name["given"][0],
                                                "birthdate": patient["birthDate"]}, label)
    for fmt in ("compact", "raw"):
        await call(run, client, "get_patient", {"id": pid, "format": fmt}, label)
    run.resources.add("fhir://{resource_type}/{id}")
    run.keep("fhir://Patient", label, await client.read_resource(f"fhir://Patient/{pid}"))

    ids: dict[str, list[str]] = {}
    for op in SEARCH_OPS:
        for extra in search_arguments(op.tool, records):
            items = await walk_search(run, client, op.tool, {"patient_id": pid, **extra}, label)
            ids.setdefault(op.resource, []).extend(item["id"] for item in items)
        await call(run, client, op.tool, {"patient_id": pid, **search_arguments(op.tool, records)[0],
                                          "count_only": True}, label)
    await check_date_window(run, client, pid, label)

    for resource_type, found_ids in ids.items():
        op = READ_OPS[resource_type]
        for number, resource_id in enumerate(found_ids[:READS_PER_TYPE]):
            await call(run, client, op.tool, {"id": resource_id, "format": "raw" if number else "compact"}, label)
        if found_ids:
            run.keep(f"fhir://{resource_type}", label,
                     await client.read_resource(f"fhir://{resource_type}/{found_ids[0]}"))
    for document_id in ids.get("DocumentReference", []):
        result = await call(run, client, "get_document_text", {"document_id": document_id}, label)
        assert not result.is_error, result.content[0].text
    codes = sorted({c["code"] for r in records if r["resourceType"] == "Observation"
                    for c in r["code"].get("coding", []) if c.get("system") == "http://loinc.org"})
    for code in codes[:CODES_PER_PATIENT]:
        await call(run, client, "get_latest_values", {"patient_id": pid, "code": code, "limit": 5}, label)
    summary = await call(run, client, "patient_summary", {"patient_id": pid}, label)
    assert not summary.is_error, summary.content[0].text
    inventory = await call(run, client, "list_patient_codes", {"patient_id": pid}, label)
    assert not inventory.is_error, inventory.content[0].text
    notes = await call(run, client, "get_latest_notes", {"patient_id": pid, "count": 3}, label)
    assert not notes.is_error, notes.content[0].text
    for prompt in ("review_recent_labs", "summarize_patient"):
        run.prompts.add(prompt)
        run.keep(prompt, label, await client.get_prompt(prompt, {"patient_id": pid}))
    # In the minimum mode a real id is refused (and the refusal does not repeat it).
    refused = await call(run, client, "get_patient", {"id": patient["id"]}, label)
    assert refused.is_error or pid == patient["id"]


async def check_date_window(run: Run, client: Client, pid: str, label: str) -> None:
    """A date-filtered search in the model's (shifted) frame finds exactly the records in that window."""
    result = await call(run, client, "search_encounters", {"patient_id": pid, "format": "raw", "count": 100}, label)
    starts = sorted(item["period"]["start"][:10] for item in result.structured_content["items"]
                    if item.get("period", {}).get("start"))
    if len(starts) < 3:
        return
    low, high = starts[len(starts) // 3], starts[2 * len(starts) // 3]
    window = await call(run, client, "search_encounters", {"patient_id": pid, "date_from": low, "date_to": high,
                                                           "format": "raw", "count": 100}, label)
    inside = sorted(item["period"]["start"][:10] for item in window.structured_content["items"])
    assert inside and all(low <= day <= high for day in inside), (low, high, inside)


async def drive_directory(run: Run, client: Client, data: DataSet) -> None:
    """Reads of the clinicians, organizations, places, drugs and forms the patients' records point at."""
    referenced: dict[str, list[str]] = {}
    for output in run.outputs:
        for resource_type, resource_id in re.findall(r"\b(" + "|".join(sorted(DIRECTORY)) + r")/([A-Za-z0-9\-.]+)",
                                                     output.text):
            if resource_id not in referenced.setdefault(resource_type, []):
                referenced[resource_type].append(resource_id)
    for resource_type in sorted(referenced):
        for resource_id in referenced[resource_type][:READS_PER_TYPE]:
            await call(run, client, READ_OPS[resource_type].tool, {"id": resource_id}, None)
    practitioner = next(r for r in data.resources if r["resourceType"] == "Practitioner")
    await call(run, client, "search_practitioners", {"family": practitioner["name"][0]["family"]}, None)
    await call(run, client, "search_practitioner_roles", {"practitioner_id": practitioner["id"]}, None)
    for op in CATALOG:  # a read no record points at in this data set still runs, on an id that is not there
        if op.interaction == "read" and op.tool not in run.tools:
            await call(run, client, op.tool, {"id": "not-there"}, None)


# The scan ------------------------------------------------------------------------------------------------

# A paging cursor, as next_page(cursor='...') and "next_cursor": "...", is sealed with a random nonce: its base64url
# characters spell a short name whole ("lin_...") by chance, about one 360-character cursor in 60,000 against the
# sandbox set's names, one run in some 300 with the ~190 cursors a run shows. Those are masked before the scan; a
# cursor with anything but base64url characters in it (readable text) is scanned as every output is.
CURSOR = re.compile(r"""((?:cursor=|"next_cursor":\s*)["'])[A-Za-z0-9_-]{40,}(["'])""")


@dataclass
class Scan:
    needles: Counter[str]
    dates_scanned: int
    dates_set_aside: int
    leaks: Counter[str]
    examples: dict[str, str]
    calls: int
    characters: int


def scan(run: Run, data: DataSet, patients: list[dict[str, Any]], offsets: dict[str, int],
         today: date = TODAY) -> Scan:
    labels = {p["id"]: f"{data.name} patient {n}" for n, p in enumerate(patients, 1)}
    needles: list[Needle] = []
    dated: dict[str, set[date]] = {}
    moved_today: dict[str, set[date]] = {}
    dates_scanned = dates_set_aside = 0
    for patient in patients:
        records = records_of(data.resources, patient["id"])
        needles += needles_of(patient, records, labels[patient["id"]])
        offset = offsets.get(patient["id"], 0)
        real = real_dates(records)
        days, set_aside = dates_to_scan(real, offset)
        dated[labels[patient["id"]]] = days
        dates_scanned += len(days)
        dates_set_aside += set_aside
        if offset:
            moved = {day + timedelta(days=offset) for day in real}
            moved_today[labels[patient["id"]]] = {today + timedelta(days=offset - back)
                                                  for back in DAYS_FROM_TODAY} - moved
    mask = ClinicianMask(clinician_names(data.resources))
    compiled = [(needle, re.compile(needle.pattern, re.I), _anchor(needle)) for needle in needles]
    # A needle is tried on an output only when its anchor is there: whole-word anchors are looked up by word.
    by_word: dict[str, list[int]] = {}
    by_text = []
    for number, (_, _, (where, anchor)) in enumerate(compiled):
        if where == "word":
            by_word.setdefault(anchor, []).append(number)
        else:
            by_text.append(number)
    leaks: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for output in run.outputs:
        text = CURSOR.sub(r"\1[cursor]\2", output.text)
        lowered = text.lower()
        present = {"text": lowered, "digits": re.sub(r"\D", "", text)}
        words = set(re.findall(r"[a-z0-9]+", lowered)) & by_word.keys()
        candidates = sorted([number for word in words for number in by_word[word]] +
                            [number for number in by_text if compiled[number][2][1] in present[compiled[number][2][0]]])
        masked: str | None = None
        for needle, pattern, _ in (compiled[number] for number in candidates):
            if needle.category == "name" and masked is None:
                masked = mask.apply(text)
            match = pattern.search(masked if needle.category == "name" and masked is not None else text)
            if match:
                leaks[needle.category] += 1
                examples.setdefault(needle.category, f"{output.call} ({output.patient}): {needle.shown!r} in "
                                                     f"...{text[max(0, match.start() - 60):match.end() + 60]}...")
        written = written_dates(text)
        for day in written & dated.get(output.patient or "", set()):
            leaks["unshifted date"] += 1
            examples.setdefault("unshifted date", f"{output.call} ({output.patient}): {day}")
        for day in written & moved_today.get(output.patient or "", set()):
            leaks["today in the patient's frame"] += 1
            examples.setdefault("today in the patient's frame", f"{output.call} ({output.patient}): {day}")
    return Scan(Counter(n.category for n in needles), dates_scanned, dates_set_aside, leaks, examples,
                len(run.outputs), sum(len(o.text) for o in run.outputs))


class ClinicianMask:
    """Replaces clinicians' names (longest first, any case) by "[clinician]": one pattern of the names an output
    holds, not of every clinician of the data set, which is slow on long outputs."""

    def __init__(self, names: list[str]) -> None:
        self.names = [(name, name.casefold()) for name in names]
        self.patterns: dict[tuple[str, ...], re.Pattern[str]] = {}

    def apply(self, text: str) -> str:
        folded = text.casefold()  # a superset of what re.I matches, so no name the pattern would find is left out
        present = tuple(name for name, name_folded in self.names if name_folded in folded)
        if not present:
            return text
        if present not in self.patterns:
            self.patterns[present] = re.compile("|".join(re.escape(name) for name in present), re.I)
        return self.patterns[present].sub("[clinician]", text)


def _anchor(needle: Needle) -> tuple[str, str]:
    """What every match must contain, to skip an output cheaply: ("word", w) when w is then a whole word of the
    output (the longest run of letters and digits of a term matched whole), ("digits", d) when the output's
    digits, separators removed, must contain d (phones, postcodes), else ("text", t) for a literal t."""
    shown = needle.shown.lower()
    if needle.category in ("phone", "birth date") or (needle.category == "address" and
                                                      re.fullmatch(r"[\d\s\-]+", shown)):
        digits = re.sub(r"\D", "", shown).lstrip("0")
        return ("digits", digits[-8:]) if needle.category != "birth date" else ("text", shown[:4])
    if not shown.isascii() or needle.category == "email":
        return "text", shown
    runs = re.findall(r"[a-z0-9]+", shown)
    return ("word", max(runs, key=len)) if runs else ("text", "")


def written_dates(text: str) -> set[date]:
    """Every date written in a text, in every format the records use (both readings of 01/02/2026)."""
    found: set[date] = set()

    def add(year: str, month: str | int, day: str) -> None:
        try:
            found.add(date(int(year), int(month), int(day)))
        except ValueError:
            pass

    for y, m, d in re.findall(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)", text):
        add(y, m, d)
    for a, b, y in re.findall(r"(?<![\d/.])(\d{1,2})[/.](\d{1,2})[/.](\d{4})", text):
        add(y, a, b)
        add(y, b, a)
    for y, m, d in re.findall(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日", text):
        add(y, m, d)
    months = "|".join(m[:3] for m in MONTHS)
    for mon, d, y in re.findall(rf"\b({months})\w*\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", text, re.I):
        add(y, [m[:3].lower() for m in MONTHS].index(mon.lower()) + 1, d)
    for d, mon, y in re.findall(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({months})\w*\.?,?\s+(\d{{4}})", text,
                                re.I):
        add(y, [m[:3].lower() for m in MONTHS].index(mon.lower()) + 1, d)
    return found


def offsets_for(patients: list[dict[str, Any]], shifted: bool) -> dict[str, int]:
    codec = PseudonymCodec(SECRET)
    return {p["id"]: codec.offset_days(p["id"]) if shifted else 0 for p in patients}


# Tests ---------------------------------------------------------------------------------------------------

CATEGORIES = ("name", "identifier", "fhir id", "phone", "email", "address", "birth date", "unshifted date",
              "today in the patient's frame")


async def test_minimum_mode_leaks_no_identifier_of_any_patient(servers, key: Path, tmp_path: Path) -> None:
    results: dict[str, Scan] = {}
    for data in DATA_SETS:
        run = await drive(stdio(servers[data.name], key, tmp_path / data.name, **MINIMUM), data, data.patients)
        results[data.name] = scan(run, data, data.patients, offsets_for(data.patients, shifted=True))
    report_path("phi-leakage.md", tmp_path).write_text(report(results))
    problems = {name: (dict(result.leaks), result.examples) for name, result in results.items() if result.leaks}
    assert not problems, problems


async def test_the_scan_finds_every_kind_of_identifier_in_the_full_mode(servers, key: Path, tmp_path: Path) -> None:
    """The control: the same driver without de-identification (one patient per data set) finds them all."""
    for data in DATA_SETS:
        patients = data.patients[:1]
        run = await drive(stdio(servers[data.name], key, tmp_path / data.name, EPIC_PHI_MODE="full"), data, patients)
        found = scan(run, data, patients, offsets_for(patients, shifted=False)).leaks
        expected = {"name", "identifier", "fhir id", "phone", "address", "birth date"}
        if data.name == "clinosim-jp":
            expected.add("email")
        assert expected <= set(found), (data.name, dict(found))


async def test_the_scan_finds_real_dates_when_shifting_is_off(servers, key: Path, tmp_path: Path) -> None:
    """The second control: with EPIC_PHI_SHIFT_DATES=false real dates are found, and nothing else is."""
    data = DATA_SETS[1]
    patients = data.patients[1:2]
    run = await drive(stdio(servers[data.name], key, tmp_path / "unshifted", **MINIMUM,
                            EPIC_PHI_SHIFT_DATES="false"), data, patients)
    result = scan(run, data, patients, offsets_for(patients, shifted=True))
    assert set(result.leaks) == {"unshifted date"}, (dict(result.leaks), result.examples)


def test_the_scan_finds_a_date_computed_from_today_in_the_patients_frame() -> None:
    """The third control, for the defect that gave offsets away: a heading that printed today moved by the
    patient's offset (and a note that printed how far back a search read) are found, and a moved record date is
    not."""
    data = DATA_SETS[1]
    patient = data.patients[0]
    offsets = offsets_for([patient], shifted=True)
    offset = offsets[patient["id"]]
    real = real_dates(records_of(data.resources, patient["id"]))
    moved_record = min(real) + timedelta(days=offset)
    run = Run()
    label = f"{data.name} patient 1"
    # Two days computed from today in the patient's frame that are neither a real date (reported as unshifted too)
    # nor a moved one (which a correct output may print); which days those are depends on the day the test runs.
    ambiguous = real | {day + timedelta(days=offset) for day in real}
    leaked = [day for day in (TODAY + timedelta(days=offset - back) for back in DAYS_FROM_TODAY)
              if day not in ambiguous][:2]
    run.outputs += [Output("patient_summary", label, f"## Upcoming appointments (from {leaked[0].isoformat()})"),
                    Output("get_latest_values", label, f"only results on or after {leaked[1].isoformat()} were read"),
                    Output("get_observation", label, f"effective: {moved_record.isoformat()}")]
    result = scan(run, data, [patient], offsets)
    assert result.leaks == Counter({"today in the patient's frame": 2}), (dict(result.leaks), result.examples)


def report(results: dict[str, Scan]) -> str:
    lines = [
        "# PHI leakage evaluation",
        "",
        "Written by `scripts/phi-reports`, which runs "
        "`tests/phi/test_phi_leakage.py::test_minimum_mode_leaks_no_identifier_of_any_patient` (CI runs the same "
        "test, without writing this page, in `./scripts/test` and on each day of the date sweep). It drives the "
        "real stdio server with `EPIC_PHI_MODE=minimum` against sekmet-fhir on loopback: every tool, every "
        "resource and every prompt, for every patient (every search in compact and raw "
        "form with every page through `next_page`, `count_only`, a date-window search, reads of up to "
        f"{READS_PER_TYPE} records of each type, `get_document_text` for every note, `get_latest_values` for up to "
        f"{CODES_PER_PATIENT} codes, `patient_summary`, `list_patient_codes`, `get_latest_notes`, the `fhir://` "
        "resource, both prompts, and an error), then "
        "every read of a clinician, organization, place, drug or form the outputs point at.",
        "",
        "Each output (every text, the structured content, and base64 attachment data decoded) is scanned for every "
        "direct identifier of every patient, taken from the raw data by code independent of the de-identifier: "
        "names of the patient and contacts (whole names and each part of two or more characters), identifier values "
        "of all the patient's records (MRN, encounter, order, report and member numbers; 6+ characters), the real "
        "FHIR ids of all the patient's records, phone numbers (digits with any separators), e-mail addresses, "
        "address lines, cities and postcodes, the exact birth date, and every day-precision date of the patient's "
        "records (structured, in text and in attachments) in ISO, US, dotted, kanji and written-month forms. It also "
        "looks for each patient's \"today\" moved by the patient's offset (and the dates a server computes from "
        "today: tomorrow, yesterday, 90 days, 1, 3 and 10 years back), which would give the offset away.",
        "",
        "Honest limits of the scan: a real date that equals another real date moved by the patient's offset cannot "
        "be told apart from a correctly shifted one and is set aside (counted below); clinicians' full names are "
        "masked before names are scanned, because a clinician may share a family name with a patient; single-"
        "character name parts (e.g. a one-kanji given name) are scanned only as part of the whole name; names, "
        "identifiers and ids are matched whole (not inside a longer run of letters and digits, which pseudonyms "
        "are), except in Japanese, where they are matched anywhere. Dates are matched at day precision only.",
        "",
        "| Data set | Calls and reads scanned | Characters | Needles by kind | Dates scanned | Dates set aside | "
        "Identifiers found |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        kinds = ", ".join(f"{k} {result.needles[k]}" for k in CATEGORIES if result.needles[k])
        found = ", ".join(f"{k} {v}" for k, v in sorted(result.leaks.items())) or "**0**"
        lines.append(f"| {name} | {result.calls} | {result.characters / 1e6:.0f} million | {kinds} | "
                     f"{result.dates_scanned} | "
                     f"{result.dates_set_aside} | {found} |")
    lines += ["", "Data sets:"] + [f"- {data.name}: {data.description}." for data in DATA_SETS]
    lines += ["", "Controls (same driver, same scan): in the full mode the scan finds every kind of identifier; in "
              "the minimum mode with `EPIC_PHI_SHIFT_DATES=false` it finds real dates and nothing else "
              "(`test_the_scan_finds_every_kind_of_identifier_in_the_full_mode`, "
              "`test_the_scan_finds_real_dates_when_shifting_is_off`).", ""]
    return "\n".join(lines)


def test_written_dates_reads_every_format_the_records_use() -> None:
    text = "2025-07-05, 07/06/2025, 8.7.2025, July 9, 2025, 10 July 2025, 2025年7月11日"
    days = {date(2025, 7, d) for d in (5, 6, 8, 9, 10, 11)} | {date(2025, 6, 7), date(2025, 7, 8)}
    assert written_dates(text) == days | {date(2025, 8, 7)}
    assert date(2025, 7, 5) + timedelta(days=1) in written_dates(text)
