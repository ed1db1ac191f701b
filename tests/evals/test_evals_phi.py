"""The PHI-minimising mode's side of the accuracy evaluation, without a server: the secret holder puts a question
in the patient's frame (no name, no real id or MRN, dates moved) and reads answers back with the server's own
mapping; the report shows what the mode lost, kind by kind. The end-to-end run is tests/evals/test_evals_oracle.py."""

from __future__ import annotations

from datetime import date, timedelta

from mcp import StdioServerParameters

from epic_mcp.phi.pseudonyms import PseudonymCodec
from evals import report
from evals.bank import KINDS, Question
from evals.oracle import Outcome
from evals.phi import HANDLING, SECRET, MinimumOutcome, SecretHolder, comparison

TODAY = date(2030, 1, 2)
PATIENT = {"id": "eq081-VQEgP8drUUqCWzHfw3", "name": "Derrick Lin", "mrn": "203715"}
META = {"measured": "2030-01-02 03:04 UTC", "commit": "abc1234", "today": "2030-01-02", "tools_profile": "all"}


def window_question() -> Question:
    return Question(f"value_in_window/{PATIENT['id']}/8867-4", "value_in_window", PATIENT["id"],
                    f"What was the Heart rate (LOINC 8867-4) result of {PATIENT['name']} (patient id "
                    f"{PATIENT['id']}) between 2029-03-01 and 2029-04-30 (both included)?", "quantity",
                    {"value": 72.0, "unit": "/min"}, {"code": "8867-4", "date_from": "2029-03-01",
                                                      "date_to": "2029-04-30"})


def mrn_question() -> Question:
    return Question(f"mrn_lookup/{PATIENT['id']}/{PATIENT['mrn']}", "mrn_lookup", PATIENT["id"],
                    f"Which patient has the medical record number (MRN) {PATIENT['mrn']}?", "id", PATIENT["id"],
                    {"mrn": PATIENT["mrn"]})


def test_a_question_is_asked_in_the_patients_frame_without_name_id_or_mrn() -> None:
    holder = SecretHolder(TODAY)
    codec = PseudonymCodec(SECRET)
    days = codec.offset_days(PATIENT["id"])
    asked = holder.question(window_question(), PATIENT)
    assert codec.real("Patient", asked.patient_id) == PATIENT["id"]
    assert asked.params == {"code": "8867-4", "date_from": (date(2029, 3, 1) + timedelta(days)).isoformat(),
                            "date_to": (date(2029, 4, 30) + timedelta(days)).isoformat()}
    assert PATIENT["name"] not in asked.text and PATIENT["id"] not in asked.text and "2029-03-01" not in asked.text
    assert asked.params["date_from"] in asked.text and asked.patient_id in asked.text
    by_mrn = holder.question(mrn_question(), PATIENT)
    assert codec.real("identifier", by_mrn.params["mrn"]) == PATIENT["mrn"]
    assert PATIENT["mrn"] not in by_mrn.text and by_mrn.params["mrn"] in by_mrn.text


def test_answers_are_read_back_to_real_ids_and_dates_and_graded_against_the_real_answer() -> None:
    holder = SecretHolder(TODAY)
    codec = PseudonymCodec(SECRET)
    days = codec.offset_days(PATIENT["id"])
    pseudonym = codec.pseudonym("Patient", PATIENT["id"])
    assert holder.read_back(pseudonym, PATIENT["id"]) == PATIENT["id"]
    assert holder.read_back(f"Patient/{pseudonym}", PATIENT["id"]) == f"Patient/{PATIENT['id']}"
    shifted = (date(2030, 2, 3) + timedelta(days)).isoformat()
    assert holder.read_back(f"{shifted}T16:00:00Z", PATIENT["id"]) == "2030-02-03T16:00:00Z"
    assert holder.read_back("72 /min", PATIENT["id"]) == "72 /min"
    assert holder.read_back(None, PATIENT["id"]) is None
    asked = holder.question(mrn_question(), PATIENT)
    graded = holder.outcome(mrn_question(), Outcome(asked, "compact", pseudonym, False, 1, 10))
    assert graded.correct and graded.answer == PATIENT["id"] and graded.read == pseudonym
    assert graded.question == mrn_question()


def test_the_server_is_the_same_one_started_in_the_minimum_mode_with_the_secret() -> None:
    full = StdioServerParameters(command="python", args=["-m", "epic_mcp"], env={"EPIC_TODAY": "2030-01-02"})
    minimum = SecretHolder(TODAY).server(full)
    assert minimum.env == {"EPIC_TODAY": "2030-01-02", "EPIC_PHI_MODE": "minimum", "EPIC_PHI_SECRET": SECRET}
    assert (minimum.command, minimum.args) == (full.command, full.args) and full.env == {"EPIC_TODAY": "2030-01-02"}


def test_every_kind_of_question_says_what_the_mode_does_to_its_answer() -> None:
    assert set(HANDLING) == {kind.name for kind in KINDS}


def test_a_lost_answer_is_counted_and_listed_with_what_was_read_and_read_back() -> None:
    question = mrn_question()
    full = [Outcome(question, "compact", PATIENT["id"], True, 1, 10)]
    minimum = [MinimumOutcome(question, "compact", "someone-else", False, 1, 12, read="someone-else")]
    phi = comparison(full, minimum)
    assert phi["kinds"]["mrn_lookup"]["compact"] == {"asked": 1, "full": 1, "minimum": 0, "as_read": 0, "same": 0}
    summary = report.summarize(minimum, runner="oracle", model=None, phi=phi, **META)
    assert report.key_of(summary) == "oracle:phi-minimum"
    results = {"oracle": report.summarize(full, runner="oracle", model=None, **META),
               "oracle:phi-minimum": summary}
    markdown = report.evals_markdown(results)
    assert "Points lost against the full mode: 100.0 (compact)" in markdown
    assert f"`{question.id}` (compact): full `{PATIENT['id']}` (right), minimum read `someone-else`" in markdown
    assert "| oracle, PHI minimum | - | 2030-01-02 | 1 | 0/1 (0.0%)" in report.scoreboard(results)
    assert markdown.index("## Oracle runner, PHI-minimising mode") > markdown.index("## Oracle runner\n")
