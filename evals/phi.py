"""The accuracy evaluation in the PHI-minimising mode (EPIC_PHI_MODE=minimum): the bank's questions asked of a
server started in that mode, as the holder of the deployment secret asks them (the patient's pseudonym for its
id, the MRN's pseudonym, date windows moved by the patient's offset), and every answer read back (pseudonyms to
real ids, dates moved back) before the same graders grade it against the same known answers.

Both directions use the server's own mapping (epic_mcp.phi: the Deidentifier on the way in; reveal_any and the
date shifting that `epic-mcp reidentify` uses on the way back), so the score measures what the mode loses, not
a copy of it. What the secret cannot give back (a name scrubbed from a note) stays lost and is reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from mcp import StdioServerParameters

from epic_mcp.phi.dates import shift_fhir, shift_text
from epic_mcp.phi.pseudonyms import PseudonymCodec, reveal_any
from epic_mcp.phi.reidentify import KINDS as PSEUDONYM_KINDS
from epic_mcp.phi.resources import Deidentifier, Policy

from .bank import Question, who
from .graders import grade
from .oracle import Outcome, run_oracle
from .session import FORMATS

MODE = "minimum"
# The evaluation's deployment secret: fixed, so every run moves each patient's dates by the same offsets and the
# published figures can be reproduced. It keys pseudonyms of synthetic sandbox data only.
SECRET = "epic-mcp accuracy evaluation, synthetic sandbox data only"
PSEUDONYM = re.compile(r"\b[0-9A-Za-z]{20,}\b")
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

# What the mode does to each kind's answer, and whether the secret holder can undo it (docs/evals.md shows it
# beside the measured loss).
HANDLING = {
    "latest_value": "Values and units are kept; the patient is asked for by pseudonym.",
    "value_in_window": "The window is asked in the patient's shifted dates; the server moves it back before "
                       "searching. Values are kept.",
    "encounter_count": "The range is asked in the patient's shifted dates; the server moves it back before "
                       "searching.",
    "immunization_count": "Statuses are kept; a count needs no reading back.",
    "mrn_lookup": "The MRN is asked as its pseudonym; the answer is the patient's pseudonym, read back to the "
                  "FHIR id with the secret.",
    "active_problems": "Problem names are kept (terminology text is not scrubbed).",
    "current_medications": "Drug names are kept; staleness is judged against today in the patient's shifted "
                           "frame, so the same orders are current.",
    "allergies": "Substances and criticality are kept.",
    "next_appointment": "The date is shifted by the patient's offset (and 'upcoming' judged in that frame); read "
                        "back by moving it back.",
    "latest_note": "The text is scrubbed of the patient's names, identifiers, phone numbers, addresses and "
                   "e-mail, which the secret cannot give back, and its dates are shifted, which it can; a key "
                   "phrase holding a removed name is lost.",
    "trend": "Values are kept; order is kept because every date of the patient moves together.",
    "abnormal": "Values, flags and reference ranges are kept.",
    "medication_count": "Drug names and orders are kept; each order is judged against today in the patient's "
                        "shifted frame, so the same drugs are current.",
    "newest_listed": "Order is kept (every date of the patient moves together); the date is shifted and read "
                     "back by moving it back.",
    "result_time": "The time of day and its UTC offset are kept; the day is shifted and read back.",
    "value_range": "Values and units are kept.",
    "trend_shape": "Values, and their order, are kept.",
    "age": "The birth date is cut to its year, but the de-identifier states the age from the real dates (over 89 "
           "as 90 or older), so no reading back is needed.",
    "named_vital": "Codes and values are kept; the name is matched to the record's codes.",
}


@dataclass(frozen=True)
class MinimumOutcome(Outcome):
    """An outcome in the minimum mode: `answer` is read back in real terms; `read` is what the text said."""

    read: str | None = None


class SecretHolder:
    """Who holds the deployment secret: puts questions in the model's frame and reads answers back."""

    def __init__(self, today: date, secret: str = SECRET) -> None:
        # The server's own de-identifier, with the policy the evaluation starts it with (dates shifted).
        self.deid = Deidentifier(PseudonymCodec(secret), Policy(shift_dates=True), "http://127.0.0.1/",
                                 lambda: today)
        self.secret = secret

    def server(self, full: StdioServerParameters) -> StdioServerParameters:
        """The same stdio server started in the minimum mode with this secret."""
        env = {**(full.env or {}), "EPIC_PHI_MODE": MODE, "EPIC_PHI_SECRET": self.secret}
        return full.model_copy(update={"env": env})

    def offset(self, patient_id: str) -> int:
        return self.deid.offset(patient_id)

    def question(self, question: Question, patient: dict[str, Any]) -> Question:
        """The question as the model sees it in this mode: no name, no real id or MRN, dates moved."""
        days = self.offset(question.patient_id)
        pseudonym = self.deid.pseudonym("Patient", question.patient_id)
        params = {key: self.deid.identifier(value) if key == "mrn"
                  else (shift_fhir(value, days) or value) if isinstance(value, str) and ISO_DAY.fullmatch(value)
                  else value for key, value in question.params.items()}
        text = question.text.replace(who(patient), f"patient {pseudonym}")
        if "mrn" in question.params:
            text = text.replace(question.params["mrn"], params["mrn"])
        text = shift_text(text, days)
        return replace(question, patient_id=pseudonym, text=text, params=params)

    def read_back(self, answer: str | None, patient_id: str) -> str | None:
        """An answer in real terms: every pseudonym this deployment issued to the real value behind it, then
        every date moved back by the patient's offset."""
        if answer is None:
            return None

        def reveal(match: re.Match[str]) -> str:
            found = reveal_any(self.deid.codec, match.group(), [*PSEUDONYM_KINDS, "identifier"])
            return found[1][0] if found else match.group()

        return shift_text(PSEUDONYM.sub(reveal, answer), -self.offset(patient_id))

    def outcome(self, original: Question, asked: Outcome) -> MinimumOutcome:
        answer = self.read_back(asked.answer, original.patient_id)
        return MinimumOutcome(original, asked.fmt, answer, grade(original.grader, original.expected, answer),
                              asked.calls, asked.tokens, asked.tools, asked.problem, read=asked.answer)


async def run_minimum(holder: SecretHolder, full_server: StdioServerParameters, questions: Sequence[Question],
                      patients: Sequence[dict[str, Any]], formats: tuple[str, ...] = FORMATS
                      ) -> list[MinimumOutcome]:
    """The oracle over the minimum-mode server: every question of the bank, none left out."""
    by_id = {patient["id"]: patient for patient in patients}
    asked = [holder.question(q, by_id[q.patient_id]) for q in questions]
    originals = {q.id: q for q in questions}
    outcomes = await run_oracle(holder.server(full_server), asked, formats)
    return [holder.outcome(originals[o.question.id], o) for o in outcomes]


def comparison(full: Sequence[Outcome], minimum: Sequence[MinimumOutcome]) -> dict[str, Any]:
    """Per kind and format: questions asked, right in the full mode, right in the minimum mode (read back), right
    as the text said it (before reading back: what needs the secret), and answers the same as the full mode's
    once read back (what else the mode lost); then every question whose answer differs, with both answers."""
    by_key = {(o.question.id, o.fmt): o for o in full}
    kinds: dict[str, dict[str, dict[str, int]]] = {}
    differences = []
    for o in minimum:
        before = by_key[(o.question.id, o.fmt)]
        tally = kinds.setdefault(o.question.kind, {}).setdefault(
            o.fmt, {"asked": 0, "full": 0, "minimum": 0, "as_read": 0, "same": 0})
        tally["asked"] += 1
        tally["full"] += before.correct
        tally["minimum"] += o.correct
        tally["as_read"] += grade(o.question.grader, o.question.expected, o.read)
        tally["same"] += before.answer == o.answer
        if before.answer != o.answer or before.correct != o.correct:
            differences.append({"question": o.question.id, "format": o.fmt, "full": before.correct,
                                "minimum": o.correct, "full_answer": (before.answer or "")[:300],
                                "read": (o.read or "")[:300], "read_back": (o.answer or "")[:300],
                                "problem": o.problem})
    return {"mode": MODE, "handling": {kind: HANDLING[kind] for kind in kinds}, "kinds": kinds,
            "differences": differences}
