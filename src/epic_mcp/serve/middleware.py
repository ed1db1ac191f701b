"""MCP server middleware: what every tool call and resource read passes through, in one place.

Outermost first: redaction (nothing a server sent can carry a secret out), the answer budget (no text beyond
EPIC_ANSWER_MAX_KB), then the audit log (server.py adds it when configured), then the call deadline, then the
argument check (short errors instead of pydantic's).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio
from mcp.server.context import CallNext, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..redaction import REDACTOR

logger = logging.getLogger(__name__)

GUARDED_METHODS = ("tools/call", "resources/read")


def error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=text)], is_error=True)


async def redact_answers(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
    """Tool results, resource contents and protocol errors leave with secrets redacted."""
    if ctx.method not in GUARDED_METHODS:
        return await call_next(ctx)
    try:
        result = await call_next(ctx)
    except MCPError as exc:
        raise MCPError(exc.code, REDACTOR.text(exc.message), REDACTOR.data(exc.data)) from None
    if isinstance(result, BaseModel):
        result = result.model_dump(by_alias=True, exclude_none=True, mode="json")
    return REDACTOR.data(result)


class AnswerBudget:
    """No tool answer's text beyond `budget` bytes. Searches and reads fit themselves to the budget record by record
    (tools.py); this is the backstop for any other answer, cut where it crosses the budget with a last line that
    says how much was left out and how to ask for less."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        result = await call_next(ctx)
        if ctx.method != "tools/call":
            return result
        if isinstance(result, BaseModel):
            result = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        texts = [c for c in (result or {}).get("content") or [] if c.get("type") == "text"]
        if sum(len(c["text"].encode()) for c in texts) <= self.budget:
            return result
        room = self.budget - 512
        for content in texts:
            data = content["text"].encode()
            kept = data[:max(room, 0)].decode(errors="ignore")
            room -= len(kept.encode())
            if len(kept) < len(content["text"]):
                left_out = -(-(len(data) - len(kept.encode())) // 1024)
                content["text"] = kept + (
                    f"\n[answer cut here: {left_out} KB more is over the {self.budget // 1024} KB answer budget "
                    "(EPIC_ANSWER_MAX_KB); ask for less: a smaller count or max_chars, fewer sections or kinds, "
                    "or a date range]")
        logger.info("%s answer cut to the %d KB budget", _tool_name(ctx.params), self.budget // 1024)
        return result


class CallDeadline:
    """A whole tool call or resource read ends within `seconds`, whatever the servers do: token exchange,
    retries, Retry-After waits and slow answers included. The same session stays usable afterwards."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method not in GUARDED_METHODS:
            return await call_next(ctx)
        # What anyio.fail_after does, without its two generator context managers (5 of its 12 us a call)
        with anyio.CancelScope(deadline=anyio.current_time() + self.seconds) as scope:
            return await call_next(ctx)
        if not (scope.cancelled_caught and anyio.current_time() >= scope.deadline):
            return None
        message = (f"no answer within {self.seconds:g} s (EPIC_CALL_DEADLINE): the FHIR server or its token "
                   "endpoint is slow or not answering; try again later, or narrow the search")
        logger.warning("%s stopped at the %g s deadline", ctx.method, self.seconds)
        if ctx.method == "tools/call":
            return error_result(f"Error executing tool {_tool_name(ctx.params)}: {message}")
        raise MCPError(-32001, message) from None


class ArgumentCheck:
    """Arguments are checked against the tool's schema before the SDK does, so a mistake comes back as one short
    line naming the argument and what it accepts (never pydantic's multi-line text with its documentation link),
    and an argument the tool does not have is refused instead of silently ignored."""

    def __init__(self, models: Mapping[str, type[BaseModel]]) -> None:
        self._models = models  # read on each call: the models of deferred tools are built on first use

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "tools/call" or not isinstance(ctx.params, Mapping):
            return await call_next(ctx)
        name = _tool_name(ctx.params)
        model = self._models.get(name)
        arguments = ctx.params.get("arguments") or {}
        if model is None or not isinstance(arguments, Mapping):
            return await call_next(ctx)
        problem = argument_problem(model, arguments)
        if problem is not None:
            return error_result(f"Error executing tool {name}: {problem}")
        return await call_next(ctx)


def argument_problem(model: type[BaseModel], arguments: Mapping[str, Any]) -> str | None:
    """None when the arguments fit the model, else one line per problem, joined with '; '."""
    known = set(model.model_fields)
    unknown = sorted(set(arguments) - known)
    problems = []
    if unknown:
        problems.append(f"unknown argument(s) {', '.join(unknown)}; this tool takes {', '.join(sorted(known))}")
    try:
        model.model_validate({k: v for k, v in arguments.items() if k in known})
    except ValidationError as exc:
        problems += [_short(error) for error in exc.errors()]
    return "; ".join(dict.fromkeys(problems)) or None


def _short(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "arguments"
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return f"{where} is required"
    if kind == "literal_error":
        return f"{where} must be one of {context['expected']}".replace("'", "")
    bounds = {"less_than_equal": ("at most", "le"), "less_than": ("less than", "lt"),
              "greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"{where} must be {words} {context.get(key)}"
    if kind == "string_too_long":
        return f"{where} is longer than {context.get('max_length')} characters"
    if kind.startswith(("string_", "int_", "bool_", "float_")):
        wanted = {"string": "text", "int": "a whole number", "bool": "true or false", "float": "a number"}
        return f"{where} must be {wanted[kind.split('_')[0]]}"
    return f"{where}: {error['msg']}"


def _tool_name(params: Any) -> str:
    return str(params.get("name")) if isinstance(params, Mapping) else "?"
