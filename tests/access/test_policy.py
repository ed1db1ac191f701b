"""The access middleware (access/policy.py) request by request, as the SDK hands it requests: what an
authenticated client may list, call and read, with the exact refusal each gets, and nothing changed for the local
user (stdio, unauthenticated loopback HTTP). tests/access/test_allowlist.py drives the same over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, ListToolsResult, Tool

from epic_mcp.access.policy import client_policy, listed_tools
from epic_mcp.access.principal import ClientAccess

pytestmark = pytest.mark.anyio
ALLOWED, OTHER = "erXuFYUfucBZaryVksYEcMg3", "eq081-VQEgP8drUUqCWzHfw3"
PASSED = object()
PATIENT_REFUSED = ("this MCP client may only see the records of the patients it is allowed, and that patient is not "
                   "one of them (ask the server's operator to add the patient to this client's allowlist)")


@dataclass
class Request:
    method: str
    params: Any = None


@contextmanager
def signed_in(tools: set[str] | None = None, patients: set[str] | None = None) -> Iterator[None]:
    """The request comes from the named client `ward` (as the bearer middleware records it)."""
    access = ClientAccess(token="", client_id="ward", scopes=[], tools=frozenset(tools) if tools is not None else None,
                          patients=frozenset(patients) if patients is not None else None)
    token = auth_context_var.set(AuthenticatedUser(access))
    try:
        yield
    finally:
        auth_context_var.reset(token)


async def through(method: str, params: Any = None, answer: Any = PASSED) -> Any:
    """What the middleware returns for one request; `answer` is what the rest of the server would return."""
    async def call_next(request: Request) -> Any:
        return answer

    return await client_policy(Request(method, params), call_next)


def refusal_text(result: Any) -> str:
    assert isinstance(result, CallToolResult) and result.is_error
    return result.content[0].text


def tools(*names: str) -> ListToolsResult:
    return ListToolsResult(tools=[Tool(name=name, input_schema={"type": "object"}) for name in names])


# tools/list --------------------------------------------------------------------------------------------------

async def test_a_client_lists_only_its_tools() -> None:
    with signed_in(tools={"get_patient", "next_page"}):
        listed = await through("tools/list", None, tools("get_patient", "search_conditions", "next_page"))
    assert isinstance(listed, ListToolsResult) and [t.name for t in listed.tools] == ["get_patient", "next_page"]


def test_a_tools_list_in_any_shape_keeps_only_what_the_client_may_use() -> None:
    keep = {"get_patient"}.__contains__
    as_dict = {"tools": [{"name": "get_patient"}, {"name": "search_conditions"}, "junk"], "nextCursor": None}
    assert listed_tools(as_dict, keep) == {"tools": [{"name": "get_patient"}], "nextCursor": None}
    assert [t.name for t in listed_tools(tools("get_patient", "x"), keep).tools] == ["get_patient"]
    assert listed_tools({"tools": "not a list"}, keep) == {"tools": "not a list"}
    assert listed_tools("neither", keep) == "neither"


# tools/call --------------------------------------------------------------------------------------------------

async def test_a_tool_the_client_may_not_use_is_refused_before_the_server_runs_it() -> None:
    with signed_in(tools={"get_patient"}):
        refused = await through("tools/call", {"name": "search_conditions", "arguments": {"patient_id": ALLOWED}})
        allowed = await through("tools/call", {"name": "get_patient", "arguments": {"id": ALLOWED}})
    assert refusal_text(refused) == ("Error executing tool search_conditions: this MCP client (ward) may not use "
                                     "search_conditions; ask the server's operator to add it to the client's tools")
    assert refused.content[0].type == "text" and allowed is PASSED


@pytest.mark.parametrize(("tool", "arguments"), [
    ("get_patient", {"id": OTHER}),
    ("search_observations", {"patient_id": OTHER, "code": "2345-7"}),
    ("patient_summary", {"patient_id": OTHER}),
])
async def test_a_patient_outside_the_allowlist_is_refused_in_any_patient_argument(tool, arguments) -> None:
    with signed_in(patients={ALLOWED}):
        refused = await through("tools/call", {"name": tool, "arguments": arguments})
    assert refusal_text(refused) == f"Error executing tool {tool}: {PATIENT_REFUSED}"


@pytest.mark.parametrize(("tool", "arguments"), [
    ("get_patient", {"id": ALLOWED}),
    ("search_observations", {"patient_id": ALLOWED, "code": "2345-7"}),
    ("get_observation", {"id": OTHER}),  # an Observation id is no patient: its record is checked when it comes
    ("search_patients", {"family": "Lopez", "patient_id": None}),
    ("get_patient", ["not", "an", "object"]),  # a malformed call reaches the SDK's own argument check
    ("get_patient", None),
])
async def test_calls_naming_no_other_patient_pass(tool, arguments) -> None:
    with signed_in(patients={ALLOWED}):
        assert await through("tools/call", {"name": tool, "arguments": arguments}) is PASSED


# resources/read ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("uri", "message"), [
    (f"fhir://Patient/{OTHER}", "this MCP client may only see the records of the patients it is allowed"),
    ("fhir://Condition/c1", "this MCP client may not read Condition records (it may not use get_condition)"),
])
async def test_a_resource_the_client_may_not_read_is_a_protocol_error(uri: str, message: str) -> None:
    with signed_in(tools={"get_patient", "get_observation"}, patients={ALLOWED}), pytest.raises(MCPError) as refused:
        await through("resources/read", {"uri": uri})
    assert (refused.value.error.code, refused.value.error.message) == (INVALID_PARAMS, message)


@pytest.mark.parametrize("uri", [f"fhir://Patient/{ALLOWED}", "fhir://Observation/o1", "fhir://Unknown/x1",
                                 f"fhir://Patient/{OTHER}/_history/1", f"fhir://Patient/{OTHER}?x=1",
                                 f"fhir://Patient/{OTHER}#x", "epic://config"])
async def test_resources_the_client_may_read_pass(uri: str) -> None:
    """URIs that name no record (a path below the id, a query, a fragment) pass on: the server answers them
    'Unknown resource' (tests/access/test_allowlist.py)."""
    with signed_in(tools={"get_patient", "get_observation"}, patients={ALLOWED}):
        assert await through("resources/read", {"uri": uri}) is PASSED


# Everyone else ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "params"), [
    ("tools/list", None), ("tools/call", {"name": "search_conditions", "arguments": {"patient_id": OTHER}}),
    ("resources/read", {"uri": f"fhir://Patient/{OTHER}"}), ("ping", None)])
async def test_without_an_authenticated_client_nothing_changes(method: str, params: Any) -> None:
    listed = tools("get_patient", "search_conditions")
    assert await through(method, params, listed) is listed


async def test_other_requests_of_a_client_pass_untouched() -> None:
    with signed_in(tools=set(), patients=set()):
        assert await through("ping", None) is PASSED
        assert await through("prompts/list", {"cursor": "x"}) is PASSED
