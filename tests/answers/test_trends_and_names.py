"""get_latest_values judges a series as a clinician reads it: its range (lowest, highest, spread) and
"fluctuating" when it keeps turning, not a first-to-last direction alone; and it finds a test by what the record
codes it as, or by the record's own words, in any language ("blood pressure" and "血圧" on a Japanese record)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import respx
from mcp import Client

from epic_mcp.answers.latest import direction_changes, fluctuating
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_TOKEN_URL, token_body
from ..fake_fhir import FakeFhir
from ..unseen_data import unseen_data_set

pytestmark = pytest.mark.anyio
TODAY = date(2026, 6, 1)
PID = "eTrend1"
JP_PATIENT = "jp-pt-ef399a8a269b"


@pytest.fixture
def server(make_settings, epic: respx.MockRouter):
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/*.read"))
    return build_server(make_settings(epic_today=TODAY))


def a1c(number: int, when: str, value: float) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"a1c-{number}", "status": "final",
            "subject": {"reference": f"Patient/{PID}"}, "category": [{"coding": [{"code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"}]},
            "effectiveDateTime": when, "valueQuantity": {"value": value, "unit": "%"}}


def series(*values: float) -> list[dict[str, Any]]:
    """Results three weeks apart from January, oldest first."""
    days = ["2026-01-05", "2026-01-26", "2026-02-16", "2026-03-09", "2026-03-30", "2026-04-20", "2026-05-11"]
    return [a1c(n, f"{days[n]}T08:00:00Z", v) for n, v in enumerate(values)]


async def trend_of(server, epic, results: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    FakeFhir(epic, results)
    async with Client(server) as client:
        result = await client.call_tool("get_latest_values", {"patient_id": PID, "code": "4548-4"})
    assert not result.is_error, result.content
    return result.structured_content["series"][0]["trend"][0], result.content[0].text


async def test_an_a1c_swinging_between_6_and_9_is_fluctuating_with_its_range(server, epic) -> None:
    """The issue's series: swings every few weeks, and first-to-last alone read 'falling, 8.9 -> 6.2'."""
    trend, text = await trend_of(server, epic, series(8.9, 6.0, 9.2, 6.1, 9.0, 6.2))
    assert trend["direction"] == "fluctuating" and trend["direction_changes"] == 4
    assert (trend["min"], trend["max"], trend["spread"]) == ("6 % on 2026-01-26", "9.2 % on 2026-02-16", "3.2 %")
    assert "trend Hemoglobin A1c: fluctuating, turned 4 times over 6 values; lowest 6 % on 2026-01-26, highest " \
           "9.2 % on 2026-02-16, spread 3.2 %; first 8.9 % on 2026-01-05 -> last 6.2 % on 2026-04-20 (-2.7 %)" in text


async def test_a_steady_fall_with_one_small_blip_is_falling_not_fluctuating(server, epic) -> None:
    trend, _ = await trend_of(server, epic, series(9.1, 8.6, 8.0, 8.6, 7.4, 7.0))
    assert (trend["direction"], trend["direction_changes"]) == ("falling", 2)


async def test_a_series_within_noise_is_stable_however_often_it_wiggles(server, epic) -> None:
    trend, _ = await trend_of(server, epic, series(7.0, 7.1, 7.0, 7.1, 7.0))
    assert (trend["direction"], trend["direction_changes"], trend["spread"]) == ("stable", 0, "0.1 %")


@pytest.mark.parametrize(("values", "turns", "wavy"), [
    ([1, 2, 3, 4], 0, False), ([6, 9, 6], 1, False), ([6, 9, 6, 9], 2, True), ([5, 6, 7, 6.5, 8, 9], 2, False),
    ([8.9, 6.0, 9.2, 6.1, 9.0, 6.2], 4, True), ([100, 104, 100, 104], 0, False),
])
def test_turns_are_counted_above_noise_and_fluctuating_needs_most_steps_to_turn(values: list[float], turns: int,
                                                                                wavy: bool) -> None:
    assert direction_changes([float(v) for v in values]) == turns
    assert fluctuating(turns, len(values)) is wavy


# Names ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def japanese_record() -> list[dict[str, Any]]:
    """The Japanese long record of the unseen set: blood pressure is LOINC 85354-9 named only '血圧'. Every blood
    pressure and creatinine result is kept, and one in eight of the patient's other 3,300 results, whose Japanese
    names (脈拍, 酸素飽和度, ...) must not be found instead: each search walks the whole record."""
    data = unseen_data_set(TODAY)
    record = [r for r in data["resources"] if r["resourceType"] in ("Patient", "Observation")
              and (r["id"] == JP_PATIENT or r.get("subject", {}).get("reference") == f"Patient/{JP_PATIENT}")]
    sought = {"85354-9", "3C015"}
    others = [r for r in record if r["resourceType"] == "Observation" and
              not sought & {c.get("code") for c in r["code"].get("coding", [])}]
    left_out = {r["id"] for r in others} - {r["id"] for r in others[::8]}
    return [r for r in record if r["id"] not in left_out]


@pytest.mark.parametrize("name", ["blood pressure", "血圧", "BP", "systolic blood pressure"])
async def test_blood_pressure_is_found_by_name_on_a_record_written_in_japanese(server, epic, japanese_record,
                                                                                name: str) -> None:
    FakeFhir(epic, japanese_record)
    async with Client(server) as client:
        result = await client.call_tool("get_latest_values", {"patient_id": JP_PATIENT, "name": name, "limit": 3})
    assert not result.is_error, result.content
    [found] = result.structured_content["series"]
    assert found["code"] == "http://loinc.org|85354-9" and found["name"].startswith("血圧")
    assert len(found["values"]) == 3 and "収縮期血圧" in found["values"][0]["value"]
    assert {t["measure"] for t in found["trend"]} == {"収縮期血圧", "拡張期血圧"}


async def test_a_japanese_lab_is_found_by_its_japanese_name_and_by_its_english_one(server, epic,
                                                                                    japanese_record) -> None:
    FakeFhir(epic, japanese_record)
    async with Client(server) as client:
        codes = [(await client.call_tool("get_latest_values", {"patient_id": JP_PATIENT, "name": name, "limit": 1})
                  ).structured_content["series"][0]["code"] for name in ("クレアチニン", "creatinine")]
    assert codes == ["http://loinc.org|2160-0"] * 2


async def test_blood_pressure_does_not_find_blood_gases_whose_names_hold_the_same_words(server, epic) -> None:
    def observation(oid: str, code: str, name: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": f"Patient/{PID}"},
                "category": [{"coding": [{"code": "vital-signs" if code == "85354-9" else "laboratory"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": name}]},
                "effectiveDateTime": "2026-05-01T08:00:00Z", "valueQuantity": {"value": 40, "unit": "mm[Hg]"}}

    FakeFhir(epic, [observation("bp", "85354-9", "Blood pressure panel with all children optional"),
                    observation("co2", "2019-8", "Carbon dioxide [Partial pressure] in Arterial blood"),
                    observation("o2", "2703-7", "Oxygen [Partial pressure] in Arterial blood")])
    async with Client(server) as client:
        result = await client.call_tool("get_latest_values", {"patient_id": PID, "name": "blood pressure"})
        gases = await client.call_tool("get_latest_values", {"patient_id": PID, "name": "partial pressure"})
    assert [s["code"] for s in result.structured_content["series"]] == ["http://loinc.org|85354-9"]
    assert len(gases.structured_content["series"]) == 2, "words still find what no code names"
