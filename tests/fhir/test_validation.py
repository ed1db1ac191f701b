"""Input checks: every refusal names the argument and the fix, every accepted form reaches the server as given."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from mcp import Client

from epic_mcp.fhir.validation import (
    MAX_VALUE_LENGTH,
    InvalidInput,
    accept_pseudonyms_of,
    check_date,
    check_id,
    check_value,
)
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, searchset, token_body

PID = "erXuFYUfucBZaryVksYEcMg3"
NOT_AN_ID = "is not a FHIR id (1-64 letters, digits, '-' or '.'); use an id from a search result"
NOT_A_DATE = "is not a date; use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
FORBIDDEN = ("contains a character that no search value needs (&, #, =, ? or a control character); remove it")


# FHIR ids ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["e1", "A-b.9", "x" * 64, "eq081-VQEgP8drUUqCWzHfw3", "1.2"])
def test_fhir_ids_are_accepted_unchanged(value: str) -> None:
    assert check_id("patient_id", value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, ".", "..", "...", "a..b", "a/b", "a b", "a_b", "ｅ１", " e1"])
def test_anything_but_a_fhir_id_is_refused_naming_the_argument_and_the_fix(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_id("patient_id", value)
    assert str(refused.value) == f"patient_id {NOT_AN_ID}"


class Issuer:
    def __init__(self, *issued: str) -> None:
        self._issued = set(issued)

    def issued(self, value: str) -> bool:
        return value in self._issued


def test_a_long_pseudonym_is_an_id_only_when_a_live_phi_layer_issued_it() -> None:
    mine, foreign = "P" + "a1" * 40, "Q" + "b2" * 40
    with pytest.raises(InvalidInput):
        check_id("patient_id", mine)
    issuer = Issuer(mine, "x" * 101, "bad.pseudonym" + "x" * 60)
    accept_pseudonyms_of(issuer)
    assert check_id("patient_id", mine) == mine
    for refused in (foreign, "x" * 101, "bad.pseudonym" + "x" * 60):
        with pytest.raises(InvalidInput):
            check_id("patient_id", refused)
    del issuer
    import gc

    gc.collect()
    with pytest.raises(InvalidInput):
        check_id("patient_id", mine)


# Search values ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["Lopez", "O'Brien", "x" * MAX_VALUE_LENGTH, "http://loinc.org|4548-4", "a,b",
                                   "São Paulo"])
def test_values_are_accepted_trimmed(value: str) -> None:
    assert check_value("family", f"  {value} ") == value


@pytest.mark.parametrize(("value", "problem"), [
    ("", "is empty; leave it out or give a value"), ("   ", "is empty; leave it out or give a value"),
    ("x" * (MAX_VALUE_LENGTH + 1), "is longer than 256 characters; shorten it"),
    ("x" * 300, "is longer than 256 characters; shorten it"),
    ("&", FORBIDDEN), ("Lopez&_id=1", FORBIDDEN), ("a#b", FORBIDDEN), ("a=b", FORBIDDEN), ("a?", FORBIDDEN),
    ("a\x00b", FORBIDDEN), ("a\nb", FORBIDDEN), ("a\x7fb", FORBIDDEN), ("a\x1fb", FORBIDDEN),
])
def test_a_value_no_search_needs_is_refused_naming_the_argument_and_the_fix(value: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_value("family", value)
    assert str(refused.value) == f"family {problem}"


# Dates ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["2024", "2024-05", "2024-02-29", "2024-05-01T10:00", "2024-05-01T10:00:59",
                                   "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00+02:00",
                                   "2024-05-01T10:00:00-05:00"])
def test_every_fhir_date_and_datetime_form_is_accepted(value: str) -> None:
    assert check_date("date_from", f" {value} ") == value


@pytest.mark.parametrize("value", ["24", "2024-5", "2024-13", "2024-00", "2023-02-29", "2024-05-32", "2024/05/01",
                                   "2024-05-01T25:00:00Z", "2024-05-01T10:61", "2024-05-01 10:00", "May 2024",
                                   "2024-05-01T10:00:00+25:00", "", "yesterday"])
def test_anything_else_is_refused_naming_the_argument_and_the_accepted_forms(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_date("date_from", value)
    assert str(refused.value) == f"date_from {NOT_A_DATE}"


@pytest.mark.parametrize("value", ["1987", "1987-09", "1987-09-12T00:00:00Z", "1987-02-30"])
def test_a_birth_date_must_be_a_whole_day(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_date("birthdate", value, day_only=True)
    assert str(refused.value) == "birthdate is not a date; use YYYY-MM-DD"
    assert check_date("birthdate", "1987-09-12", day_only=True) == "1987-09-12"


# Through the tools, as the model calls them -----------------------------------------------------------------

async def call(settings, tool: str, arguments: dict[str, Any]):
    async with Client(build_server(settings)) as client:
        return await client.call_tool(tool, arguments)


@pytest.mark.anyio
@pytest.mark.parametrize(("arguments", "message"), [
    ({"family": "x" * 257, "given": "Camila", "birthdate": "1987-09-12"},
     "family is longer than 256 characters; shorten it"),
    ({"family": "x" * 300, "given": "Camila", "birthdate": "1987-09-12"},
     "family is longer than 256 characters; shorten it"),
    ({"family": "x" * 301, "given": "Camila", "birthdate": "1987-09-12"}, "family is longer than 300 characters"),
    ({"family": "&", "given": "Camila", "birthdate": "1987-09-12"}, f"family {FORBIDDEN}"),
    ({"family": "Lopez", "given": "Camila", "birthdate": "1987-09"}, "birthdate is not a date; use YYYY-MM-DD"),
    ({"identifier": "  "}, "identifier is empty; leave it out or give a value"),
    ({"patient_id": "../Practitioner/x"}, f"patient_id {NOT_AN_ID}"),
    ({"family": "Lopez", "given": "Camila"}, "search_patients needs patient_id, or identifier, or family + given + "
     "birthdate, or family + given + legal_sex, or family + given + gender (Epic rejects the search otherwise)"),
])
async def test_a_refused_argument_is_named_with_its_fix_and_nothing_is_sent(settings, epic, arguments,
                                                                            message: str) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    result = await call(settings, "search_patients", arguments)
    assert result.is_error
    assert result.content[0].text == f"Error executing tool search_patients: {message}"
    assert not epic.calls


@pytest.mark.anyio
@pytest.mark.parametrize(("date_from", "date_to", "sent"), [
    ("2024-05", None, [("date", "ge2024-05")]),
    (None, "2024-05-01T10:00:00Z", [("date", "le2024-05-01T10:00:00Z")]),
    ("2024", "2024-05-01T10:00:00+02:00", [("date", "ge2024"), ("date", "le2024-05-01T10:00:00+02:00")]),
])
async def test_month_and_datetime_forms_reach_the_server_with_their_prefix(settings, epic, date_from, date_to,
                                                                         sent) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    route = epic.get(f"{EPIC_BASE}/Encounter").respond(200, json=searchset([], total=0))
    arguments = {"patient_id": PID, "date_from": date_from, "date_to": date_to}
    result = await call(settings, "search_encounters", {k: v for k, v in arguments.items() if v is not None})
    assert not result.is_error, result.content
    query = parse_qsl(route.calls.last.request.url.query.decode())
    assert [pair for pair in query if pair[0] == "date"] == sent
