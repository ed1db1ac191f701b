"""What every tool call passes through: one short line per argument mistake, the call deadline on tools and
resources alike, and redaction of whatever leaves."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, Field, model_validator

from epic_mcp.serve.middleware import argument_problem
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, token_body


class Arguments(BaseModel):
    patient_id: Annotated[str, Field(max_length=10)]
    count: Annotated[int | None, Field(ge=1, le=100)] = None
    above: Annotated[int | None, Field(gt=0, lt=5)] = None
    weight: float | None = None
    count_only: bool = False
    format: Literal["compact", "raw"] = "compact"
    codes: list[str] | None = None


@pytest.mark.parametrize(("arguments", "problem"), [
    ({"patient_id": "e1"}, None),
    ({"patient_id": "e1", "count": 100, "above": 4, "weight": 2.5, "count_only": True, "format": "raw"}, None),
    ({}, "patient_id is required"),
    ({"patient_id": "e" * 11}, "patient_id is longer than 10 characters"),
    ({"patient_id": 7}, "patient_id must be text"),
    ({"patient_id": "e1", "count": 101}, "count must be at most 100"),
    ({"patient_id": "e1", "count": 0}, "count must be at least 1"),
    ({"patient_id": "e1", "above": 5}, "above must be less than 5"),
    ({"patient_id": "e1", "above": 0}, "above must be more than 0"),
    ({"patient_id": "e1", "count": "ten"}, "count must be a whole number"),
    ({"patient_id": "e1", "weight": "heavy"}, "weight must be a number"),
    ({"patient_id": "e1", "count_only": "maybe"}, "count_only must be true or false"),
    ({"patient_id": "e1", "format": "fhir"}, "format must be one of compact or raw"),
    ({"patient_id": "e1", "codes": "8480-6"}, "codes: Input should be a valid list"),
    ({"patient_id": "e1", "codes": ["a", 5]}, "codes.1 must be text"),
    ({"patient_id": "e1", "date": "2026", "zeta": 1},
     "unknown argument(s) date, zeta; this tool takes above, codes, count, count_only, format, patient_id, weight"),
    ({"count": 0, "mystery": 1}, "unknown argument(s) mystery; this tool takes above, codes, count, count_only, "
     "format, patient_id, weight; patient_id is required; count must be at least 1"),
])
def test_each_argument_mistake_is_one_short_phrase_naming_the_argument(arguments: dict[str, Any],
                                                                       problem: str | None) -> None:
    assert argument_problem(Arguments, arguments) == problem


class Anything(BaseModel):
    value: dict[str, int]


def test_a_mistake_without_a_short_form_keeps_pydantics_phrase_without_its_noise() -> None:
    problem = argument_problem(Anything, {"value": {"a": "x"}})
    assert problem == "value.a must be a whole number"
    assert argument_problem(Anything, {"value": 3}) == "value: Input should be a valid dictionary"


@pytest.mark.anyio
async def test_a_resource_read_past_the_call_deadline_is_a_protocol_error_naming_the_setting(make_settings,
                                                                                             epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(20)
        return httpx.Response(200, json={"resourceType": "Patient", "id": "e1"})

    epic.get(f"{EPIC_BASE}/Patient/e1").mock(side_effect=hang)
    async with Client(build_server(make_settings(epic_call_deadline=1))) as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("fhir://Patient/e1")
        assert raised.value.error.code == -32001
        assert raised.value.error.message == (
            "no answer within 1 s (EPIC_CALL_DEADLINE): the FHIR server or its token endpoint is slow or not "
            "answering; try again later, or narrow the search")
        tools = await client.list_tools()
    assert tools.tools, "the session is still usable after the deadline"


# The middleware on its own, with the context the SDK hands it -------------------------------------------------

JWT = "eyJhbGciOiJSUzM4NCIsImtpZCI6IngifQ.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.c2lnbmF0dXJlLWJ5dGVz"


def context(method: str, params: Any) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(method=method, params=params)


@pytest.mark.anyio
async def test_a_protocol_error_leaves_with_its_message_and_data_redacted() -> None:
    from epic_mcp.serve.middleware import redact_answers

    async def fails(ctx: Any) -> Any:
        raise MCPError(-32002, f"server echoed {JWT}", {"detail": [f"Bearer {JWT}"]})

    with pytest.raises(MCPError) as raised:
        await redact_answers(context("resources/read", {"uri": "fhir://Patient/e1"}), fails)
    assert (raised.value.error.code, raised.value.error.message) == (-32002, "server echoed [redacted]")
    assert raised.value.error.data == {"detail": ["[redacted]"]}


@pytest.mark.anyio
async def test_a_tool_result_leaves_as_json_with_its_wire_names_and_no_empty_fields() -> None:
    from mcp.types import CallToolResult, TextContent

    from epic_mcp.serve.middleware import redact_answers

    async def answers(ctx: Any) -> Any:
        return CallToolResult(content=[TextContent(text=f"token {JWT}")], structured_content={"when": None},
                              is_error=False)

    result = await redact_answers(context("tools/call", {"name": "get_patient"}), answers)
    assert result == {"content": [{"type": "text", "text": "token [redacted]"}], "structuredContent": {"when": None},
                      "isError": False, "resultType": "complete"}
    assert await redact_answers(context("tools/list", {}), answers) == await answers(None), "other methods pass"


@pytest.mark.anyio
async def test_calls_the_check_cannot_judge_go_on_to_the_sdk_unchanged() -> None:
    from epic_mcp.serve.middleware import ArgumentCheck

    seen: list[Any] = []

    async def call_next(ctx: Any) -> str:
        seen.append(ctx)
        return "passed on"

    check = ArgumentCheck({"get_patient": Arguments})
    for ctx in (context("tools/call", {"name": "no_such_tool", "arguments": {"x": 1}}),
                context("tools/call", {"name": "get_patient", "arguments": ["not", "a", "mapping"]}),
                context("tools/call", None), context("resources/read", {"uri": "epic://status"})):
        assert await check(ctx, call_next) == "passed on"
        assert seen[-1] is ctx
    refused = await check(context("tools/call", {"name": "get_patient", "arguments": {}}), call_next)
    assert refused.is_error and refused.content[0].text == "Error executing tool get_patient: patient_id is required"
    assert refused.content[0].type == "text"
    assert len(seen) == 4


@pytest.mark.anyio
async def test_a_tool_call_past_the_deadline_is_a_tool_error_even_without_a_name() -> None:
    from epic_mcp.serve.middleware import CallDeadline

    async def slow(ctx: Any) -> Any:
        await asyncio.sleep(5)

    result = await CallDeadline(0.05)(context("tools/call", None), slow)
    assert result.is_error and result.content[0].text == (
        "Error executing tool ?: no answer within 0.05 s (EPIC_CALL_DEADLINE): the FHIR server or its token endpoint "
        "is slow or not answering; try again later, or narrow the search")
    assert await CallDeadline(0.05)(context("tools/list", None), lambda ctx: asyncio.sleep(0, "listed")) == "listed"


class Checked(BaseModel):
    start: int = 0
    end: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> Checked:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


def test_a_problem_with_the_arguments_together_names_the_arguments() -> None:
    assert argument_problem(Checked, {"start": 5, "end": 1}) == "arguments: Value error, end is before start"


@pytest.mark.anyio
async def test_a_secret_in_a_resource_uri_is_redacted_too() -> None:
    from mcp.types import ReadResourceResult, TextResourceContents

    from epic_mcp.serve.middleware import redact_answers

    async def answers(ctx: Any) -> Any:
        return ReadResourceResult(contents=[TextResourceContents(uri=f"fhir://Patient/e1?note={JWT}", text="{}",
                                                                 mime_type="application/json")])

    result = await redact_answers(context("resources/read", {"uri": "fhir://Patient/e1"}), answers)
    assert result["contents"][0] == {"uri": "fhir://Patient/e1?note=[redacted]", "text": "{}",
                                     "mimeType": "application/json"}


# The answer budget: the backstop for answers that do not fit themselves to EPIC_ANSWER_MAX_KB ---------------------

CUT_ADVICE = ("KB answer budget (EPIC_ANSWER_MAX_KB); ask for less: a smaller count or max_chars, fewer sections or "
              "kinds, or a date range]")


def answer(*texts: str, **extra: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text} for text in texts], "isError": False, **extra}


async def budgeted(budget: int, result: Any, method: str = "tools/call") -> Any:
    from epic_mcp.serve.middleware import AnswerBudget

    async def call_next(ctx: Any) -> Any:
        return result

    return await AnswerBudget(budget)(context(method, {"name": "patient_summary"}), call_next)


@pytest.mark.anyio
async def test_an_answer_within_the_budget_is_left_whole() -> None:
    whole = answer("a" * 1000, "b" * 1048)
    assert await budgeted(2048, whole) == answer("a" * 1000, "b" * 1048), "exactly at the budget"
    assert await budgeted(4096, None) is None


@pytest.mark.anyio
async def test_an_answer_over_the_budget_is_cut_with_what_was_left_out_and_how_to_ask_for_less() -> None:
    result = await budgeted(2048, answer("x" * 3000, structuredContent={"kept": True}))
    assert result == answer("x" * 1536 + f"\n[answer cut here: 2 KB more is over the 2 {CUT_ADVICE}",
                            structuredContent={"kept": True})
    assert len(result["content"][0]["text"].encode()) <= 2048


@pytest.mark.anyio
async def test_the_kb_left_out_are_rounded_up() -> None:
    exact = await budgeted(2048, answer("x" * (1536 + 1024)))
    assert exact["content"][0]["text"].endswith("\n[answer cut here: 1 KB more is over the 2 " + CUT_ADVICE)
    over = await budgeted(2048, answer("x" * (1536 + 1025)))
    assert "[answer cut here: 2 KB more" in over["content"][0]["text"]


@pytest.mark.anyio
async def test_texts_are_kept_in_order_until_the_budget_and_only_the_one_crossing_it_is_cut() -> None:
    image = {"type": "image", "data": "aGVsbG8=" * 200, "mimeType": "image/png"}
    result = await budgeted(2048, {"content": [{"type": "text", "text": "a" * 1000}, image,
                                               {"type": "text", "text": "b" * 2000}, {"type": "text", "text": "c"}]})
    texts = [c.get("text") for c in result["content"]]
    assert texts[0] == "a" * 1000 and texts[1] is None and result["content"][1] == image
    assert texts[2] == "b" * 536 + f"\n[answer cut here: 2 KB more is over the 2 {CUT_ADVICE}"
    assert texts[3] == "\n[answer cut here: 1 KB more is over the 2 " + CUT_ADVICE


@pytest.mark.anyio
async def test_a_cut_never_splits_a_character() -> None:
    result = await budgeted(2049, answer("é" * 2000))  # 2 bytes each: byte 1537 is half a character
    kept = result["content"][0]["text"].split("\n[answer cut here: ")[0]
    assert kept == "é" * 768
    assert result["content"][0]["text"].endswith("\n[answer cut here: 3 KB more is over the 2 " + CUT_ADVICE)


@pytest.mark.anyio
async def test_a_budget_smaller_than_the_cut_line_keeps_only_the_line() -> None:
    result = await budgeted(300, answer("x" * 400))
    assert result == answer("\n[answer cut here: 1 KB more is over the 0 " + CUT_ADVICE)


@pytest.mark.anyio
async def test_a_tool_result_object_is_budgeted_as_its_wire_form_and_other_methods_pass() -> None:
    from mcp.types import CallToolResult, TextContent

    result = await budgeted(2048, CallToolResult(content=[TextContent(text="x" * 3000)], is_error=True))
    assert result["isError"] is True and "structuredContent" not in result
    assert result["content"][0]["text"].startswith("x" * 1536 + "\n[answer cut here: ")
    big = answer("x" * 3000)
    assert await budgeted(2048, big, method="resources/read") == answer("x" * 3000)
