"""The oracle's plans on tool text made for the purpose: they use issue 12's tools and arguments when the server
offers them, and read only the current medications whichever way the stale ones are set apart."""

from __future__ import annotations

from typing import Any

import pytest

from evals import plans
from evals.bank import Question

CURRENT = "- MedicationRequest/m1 | medication: Amlodipine [RxNorm 17767]\n" \
          "- MedicationRequest/m2 | medication: Metformin [RxNorm 6809]"
STALE = "- MedicationRequest/m3 | medication: Prednisone [RxNorm 8640]"


class FakeSession:
    """Answers each tool with a fixed text, and records the calls."""

    def __init__(self, answers: dict[str, str], schemas: dict[str, list[str]], fmt: str = "compact") -> None:
        self.answers, self.schemas, self.fmt = answers, schemas, fmt
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def has(self, tool: str, argument: str | None = None) -> bool:
        return tool in self.schemas and (argument is None or argument in self.schemas[tool])

    async def call(self, tool: str, **arguments: Any) -> str:
        self.calls.append((tool, arguments))
        return self.answers[tool]


def question(kind: str) -> Question:
    return Question(f"{kind}/p1/x", kind, "p1", "?", "items", [])


@pytest.mark.anyio
@pytest.mark.parametrize("summary", [
    f"Patient summary\n## Active medications (distinct): 2 shown\n{CURRENT}",
    f"## Current medications: 2\n{CURRENT}\n## Likely stale medications: 1\n{STALE}",
    f"## Medications: 2 current, 1 likely stale\n{CURRENT}\nlikely stale (no longer taken?):\n{STALE}",
    f"## Medications\n{CURRENT}\n{STALE} | likely_stale: its supply has run out",
])
async def test_only_current_medications_are_read(summary) -> None:
    session = FakeSession({"patient_summary": summary}, {"patient_summary": ["patient_id"]})
    said = await plans.current_medications(session, question("current_medications"))
    assert said == "Amlodipine [RxNorm 17767]; Metformin [RxNorm 6809]"


@pytest.mark.anyio
async def test_the_summary_is_asked_for_one_section_when_it_takes_sections() -> None:
    whole = "## Active problems: 1 shown\n- Condition/c1 | code: COPD [ICD-10-CM J44.9]"
    brief = "## Active problems: 2\ncodes: ICD-10-CM\n- c1 | COPD [J44.9] | onset 2014-09-26 | Mild\n" \
            "- c2 | Obesity, unspecified [E66.9]"
    old = FakeSession({"patient_summary": whole}, {"patient_summary": ["patient_id"]})
    new = FakeSession({"patient_summary": brief}, {"patient_summary": ["patient_id", "sections"]})
    assert await plans.active_problems(old, question("active_problems")) == "COPD [ICD-10-CM J44.9]"
    assert await plans.active_problems(new, question("active_problems")) == "COPD [J44.9]; Obesity, unspecified [E66.9]"
    assert old.calls == [("patient_summary", {"patient_id": "p1"})]
    assert new.calls == [("patient_summary", {"patient_id": "p1", "sections": ["problems"]})]


@pytest.mark.anyio
async def test_the_latest_note_comes_from_get_latest_notes_when_the_server_has_it() -> None:
    session = FakeSession({"get_latest_notes": "DocumentReference/d9: Progress note, 2030-01-01\n<patient-text>\n"
                                               "Seen for COPD.\n</patient-text>"},
                          {"get_latest_notes": ["patient_id", "count"], "search_documents": ["patient_id"]})
    assert await plans.latest_note(session, question("latest_note")) == "Seen for COPD."
    assert session.calls == [("get_latest_notes", {"patient_id": "p1", "count": 1})]
