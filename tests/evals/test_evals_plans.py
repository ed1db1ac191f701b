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


def page(order: str, dates: list[str], cursor: str | None = None) -> str:
    more = f"; more with next_page(cursor='{cursor}')" if cursor else "; no more pages"
    return "\n".join([f"DocumentReference search: {len(dates)} on this page, total 3{more}", f"order: {order}",
                      *(f"- d{i} | date: {day}" for i, day in enumerate(dates))])


@pytest.mark.anyio
async def test_the_first_listed_is_taken_as_the_newest_only_when_the_order_covers_every_result() -> None:
    sorted_everywhere = FakeSession({"search_documents": page(
        "newest first by date, sorted by the server across all pages", ["2030-03-01T10:00:00Z"], "c1")},
        {"search_documents": ["patient_id"]})
    note = Question("newest_listed/p1/note", "newest_listed", "p1", "?", "date", "")
    assert await plans.newest_listed(sorted_everywhere, note) == "2030-03-01T10:00:00Z"
    assert [tool for tool, _ in sorted_everywhere.calls] == ["search_documents"]
    one_page_only = FakeSession({
        "search_documents": page("newest first by date within results 1-2 only; the server returns pages in its "
                                 "own order", ["2030-02-01T10:00:00Z", "2030-01-01T10:00:00Z"], "c1"),
        "next_page": page("newest first by date within results 3-3 only", ["2030-03-01T10:00:00Z"])},
        {"search_documents": ["patient_id"], "next_page": ["cursor"]})
    assert await plans.newest_listed(one_page_only, note) == "2030-03-01T10:00:00Z"
    assert [tool for tool, _ in one_page_only.calls] == ["search_documents", "search_documents", "next_page"]
