"""Generates one typed MCP tool per catalog operation, plus next_page.

Each tool is an async function with a real signature (so the SDK derives its input schema and
validates arguments) whose body checks Epic's rules and every value before any request is sent.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from ..errors import EpicMcpError
from ..fhir.catalog import Choice, Operation, Param
from ..fhir.guard import PatientGuard
from ..fhir.paging import CursorCodec, InvalidCursor, Position
from ..fhir.results import FOREIGN_NEXT_LINK, ReadResult, SearchResult, bundle_parts, ignored_parameters, reported_total
from ..fhir.validation import check_date, check_id, check_value
from ..render import FieldTexts, as_json, compact, field_texts, page_text, record_line

if TYPE_CHECKING:
    from ..answers.medications import Drug
    from ..fhir.client import FhirClient, Page

logger = logging.getLogger(__name__)

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True,
                            destructive_hint=False)
OVERSIZED_PAGE = ("the server sent {sent} results on one page although {limit} were asked for; these are results "
                  "{first}-{last} of that page, and next_page continues with the rest")
OVER_BUDGET = ("this answer holds {shown} of the {results} results on this page, to stay within the {kb} KB answer "
               "budget (EPIC_ANSWER_MAX_KB); next_page continues with the rest{hint}")
RAW_OVER_BUDGET = ("{record} is {size} KB as raw FHIR, over the {kb} KB answer budget (EPIC_ANSWER_MAX_KB), so it "
                   "is shown in compact form; the fhir://{record} resource gives the raw record")
HEADROOM = 2048  # bytes of an answer kept for its header, warnings and cursor


class Runtime:
    """What tools need at call time: paging cursors, page sizes, the shared FHIR client, the server's
    CapabilityStatement (None when unknown), and today in a patient's frame."""

    def __init__(self, cursors: CursorCodec, page_size: int, max_page_size: int,
                 client: Callable[[], FhirClient], today_for: Callable[[str], date], answer_budget: int = 64 * 1024,
                 capability: Callable[[], Awaitable[dict[str, Any] | None]] | None = None) -> None:
        self.cursors = cursors
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.client = client
        self.today_for = today_for
        self.answer_budget = answer_budget
        self.capability = capability

    async def sort_key(self, op: Operation) -> str | None:
        """`-<date parameter>` when the server says it sorts this search by date, else None."""
        date_param = next((p.fhir for p in op.params if p.kind == "date"), None)
        if date_param is None or self.capability is None:
            return None
        from ..answers.ordering import server_sorts  # first use after start: tools/list does not need it

        return f"-{date_param}" if server_sorts(await self.capability(), op.resource, date_param) else None


T = TypeVar("T")
Format = Literal["compact", "raw"]


def _without_default(schema: dict[str, Any]) -> None:
    """`format` and `count_only` are on nearly every tool; their defaults (compact, false) go without saying or are
    said once in the server's instructions, not 56 times in tools/list."""
    schema.pop("default", None)


FORMAT_FIELD = Field(json_schema_extra=_without_default)


def tool_result(model: BaseModel, text: str | None = None) -> CallToolResult:
    """Structured content for programs and a text for the model (default: the same data as JSON)."""
    data = model.model_dump(mode="json")
    return CallToolResult(content=[TextContent(type="text", text=text or as_json(data))], structured_content=data)


def output_model(op: Operation) -> type[BaseModel]:
    """The envelope a catalog tool returns."""
    return ReadResult if op.interaction == "read" else SearchResult


def checked_id(arg: str, value: str) -> str:
    """A FHIR id, or a tool error naming the argument; nothing is sent for a bad id."""
    try:
        return check_id(arg, value)
    except EpicMcpError as exc:
        raise ToolError(str(exc)) from None


def present(resource: dict[str, Any], fmt: str) -> dict[str, Any]:
    return compact(resource) if fmt == "compact" else resource


def answer_size(item: dict[str, Any], fmt: str, texts: FieldTexts | None = None) -> int:
    """Bytes one presented record adds to the text the model reads (`texts`: its field_texts, if known)."""
    return len((as_json(item) if fmt == "raw" else record_line(item, texts)).encode()) + 4


def fitting(presented: list[dict[str, Any]], fmt: str, budget: int, texts: list[FieldTexts] | None = None) -> int:
    """How many records, from the first, fit in the budget; always at least one, so paging never stalls."""
    used = HEADROOM
    for count, item in enumerate(presented):
        used += answer_size(item, fmt, texts[count] if texts is not None else None)
        if used > budget and count:
            return count
    return len(presented)


def page_result(page: SearchResult, fmt: str, texts: list[FieldTexts] | None = None) -> CallToolResult:
    if fmt == "raw":
        return tool_result(page)
    return tool_result(page, page_text(page, texts))


def contained(name: str, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """A tool whose unexpected failures become one PHI-free tool error and one log line naming the exception's
    type and place, never its text or a traceback (both may quote a server's answer or a patient id)."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> T:
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except EpicMcpError as exc:
            raise ToolError(str(exc)) from None
        except Exception as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
            logger.error("%s failed: unexpected %s at %s (details withheld: they may hold patient data)", name,
                         type(exc).__name__, where)
            raise ToolError(f"epic-mcp could not handle this answer (internal {type(exc).__name__}); try again, "
                            "and report it if it persists") from None

    return run


async def call_fhir(tool: str, action: Callable[[], Awaitable[T]]) -> T:
    started = time.perf_counter()
    try:
        result = await action()
    except EpicMcpError as exc:
        logger.info("%s failed (%s) after %.0f ms", tool, getattr(exc, "kind", type(exc).__name__),
                    (time.perf_counter() - started) * 1000)
        raise ToolError(str(exc)) from None
    logger.info("%s answered in %.0f ms", tool, (time.perf_counter() - started) * 1000)
    return result


async def search_page(runtime: Runtime, page: Page, at: Position,
                      fmt: str = "compact") -> tuple[SearchResult, list[FieldTexts] | None]:
    """The envelope for one page: at most `at.limit` items, the rest of an oversized page and the server's next
    page reachable by cursor, a total that is a count or said to be a lower bound, and, for a patient-scoped
    search, never another patient's records. With it, in compact format, the field texts of its items: worked
    out once, to fit the page to the answer budget and to write its text."""
    bundle = page.bundle
    if bundle.get("resourceType") != "Bundle":
        raise ToolError("the FHIR server answered a search with something other than a Bundle")
    items, warnings, server_total, next_link = bundle_parts(bundle)
    total, at_least = (reported_total(server_total, at.seen, page.results, next_link is not None) if page.countable
                       else (None, None))
    on_page = len(items)
    presented = [present(item, fmt) for item in items]
    texts = [field_texts(item) for item in presented] if fmt == "compact" else None
    shown = fitting(presented, fmt, runtime.answer_budget, texts)
    view = {id(item): index for index, item in enumerate(items)}  # rendered once
    guard = PatientGuard(runtime.client(), at.patient_id)
    items = await guard.keep(items[:shown], at.resource_type)
    warnings += guard.warnings(at.resource_type)
    from ..answers.collect import newest_first  # first use after start: tools/list does not need them
    from ..answers.ordering import order_statement

    whole = shown == on_page and not page.remaining and next_link is None and page.skip == 0 and at.seen == 0
    order = order_statement(items, whole=whole, server_sorted=at.server_sorted, first=at.seen + page.skip + 1)
    items = newest_first(items)
    if guard.withheld_patients:
        total, at_least = None, None
    cursor = None
    if shown < on_page:
        warnings.append(OVER_BUDGET.format(shown=shown, results=on_page, kb=runtime.answer_budget // 1024,
                                           hint=" (format=compact fits about four times as many)" if fmt == "raw"
                                           else ""))
        cursor = runtime.cursors.encode(replace(at, url=page.url, skip=page.skip + shown))
    elif page.remaining:
        warnings.append(OVERSIZED_PAGE.format(sent=page.results, limit=at.limit, first=page.skip + 1,
                                              last=page.skip + shown))
        cursor = runtime.cursors.encode(replace(at, url=page.url, skip=page.skip + at.limit))
    elif next_link is not None:
        import httpx  # first use after start (see paging.CursorCodec)

        try:
            cursor = runtime.cursors.encode(replace(at, url=httpx.URL(next_link), skip=0,
                                                    seen=at.seen + page.results))
        except (InvalidCursor, httpx.InvalidURL):
            warnings.append(FOREIGN_NEXT_LINK)
    kept = [view[id(item)] for item in items]
    return (SearchResult(resource_type=at.resource_type, total=total, total_at_least=at_least, returned=len(items),
                         items=[presented[index] for index in kept], order=order, warnings=warnings,
                         next_cursor=cursor),
            [texts[index] for index in kept] if texts is not None else None)


# Signatures --------------------------------------------------------------------------------------------

def _param_type(param: Param) -> Any:
    if param.choices:
        return Literal[tuple(c.value for c in param.choices)]
    return str


def _describe(param: Param) -> str:
    """The description, with the labels of the choices that say more than their value."""
    def says_more(choice: Choice) -> bool:
        return choice.label.lower().replace(" ", "-") != choice.value.lower()

    labels = "; ".join(f"{c.value} = {c.label}" for c in param.choices if says_more(c))
    return f"{param.description} {labels}." if labels else param.description


def _arguments(op: Operation, max_page_size: int) -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    if op.interaction == "read":
        id_annotation = Annotated[str, Field(description="FHIR id.", max_length=200)]
        return [inspect.Parameter("id", keyword, annotation=id_annotation),
                inspect.Parameter("format", keyword, annotation=Annotated[Format, FORMAT_FIELD], default="compact")]
    arguments = []
    annotation: Any
    for param in op.params:
        if param.kind == "flag":
            flag = Annotated[bool, Field(description=param.description, json_schema_extra=_without_default)]
            arguments.append(inspect.Parameter(param.arg, keyword, annotation=flag, default=False))
            continue
        if param.kind == "date":
            for arg, edge in zip(param.args, ("on or after", "on or before"), strict=True):
                annotation = Annotated[str | None, Field(description=f"{edge.capitalize()} (YYYY[-MM[-DD]] or "
                                                         "a datetime).", max_length=40)]
                arguments.append(inspect.Parameter(arg, keyword, annotation=annotation, default=None))
            continue
        annotation = Annotated[_param_type(param) | None, Field(description=_describe(param), max_length=300)
                               if not param.choices else Field(description=_describe(param))]
        arguments.append(inspect.Parameter(param.arg, keyword, annotation=annotation, default=None))
    count = Annotated[int | None, Field(description="Page size.", ge=1, le=max_page_size)]
    arguments.append(inspect.Parameter("count", keyword, annotation=count, default=None))
    arguments.append(inspect.Parameter("format", keyword, annotation=Annotated[Format, FORMAT_FIELD],
                                       default="compact"))
    count_only = Annotated[bool, Field(description="Only the number of matches.", json_schema_extra=_without_default)]
    arguments.append(inspect.Parameter("count_only", keyword, annotation=count_only, default=False))
    return arguments


def description(op: Operation) -> str:
    """What the model reads on every tools/list: the summary and Epic's rule. Paging, formats and scopes are said
    once, in the server's instructions (every tool's schema costs context on every request)."""
    rule = op.rule_text() if op.interaction == "search" else None
    return f"{op.summary} Requires {rule}." if rule else op.summary


# Search parameters -------------------------------------------------------------------------------------

def search_params(op: Operation, arguments: dict[str, Any], page_size: int) -> list[tuple[str, str]]:
    """The query for a search, or InvalidInput/ToolError naming what is wrong; nothing is sent before."""
    given = {p.arg for p in op.params if any(arguments.get(a) is not None for a in p.args)}
    missing = op.missing_requirement(given)
    if missing:
        raise ToolError(missing)
    query: list[tuple[str, str]] = []
    for param in op.params:
        if param.kind == "flag":
            continue
        if param.kind == "date":
            start, end = (arguments.get(a) for a in param.args)
            if start is not None:
                query.append((param.fhir, "ge" + check_date(param.args[0], start)))
            if end is not None:
                query.append((param.fhir, "le" + check_date(param.args[1], end)))
            continue
        value = arguments.get(param.arg)
        if value is None:
            continue
        if param.choices:
            value = next(c.wire for c in param.choices if c.value == value)
        elif param.kind == "id":
            value = check_id(param.arg, value)
        elif param.kind == "day":
            value = check_date(param.arg, value, day_only=True)
        else:
            value = check_value(param.arg, value)
        query.append((param.fhir, value))
    query.append(("_count", str(arguments.get("count") or page_size)))
    return query


# Tool factories ----------------------------------------------------------------------------------------

def make_tool(op: Operation, runtime: Runtime) -> Callable[..., Awaitable[CallToolResult]]:
    if op.interaction == "read":
        async def handler(**arguments: Any) -> CallToolResult:
            resource_id = checked_id("id", arguments["id"])
            resource = await call_fhir(op.tool, lambda: runtime.client().read(op.resource, resource_id))
            if resource.get("resourceType") != op.resource:
                raise ToolError(f"the FHIR server answered with a {resource.get('resourceType')}, "
                                f"not a {op.resource}")
            fmt = arguments["format"]
            record = f"{op.resource}/{resource.get('id', resource_id)}"
            warnings = []
            if fmt == "raw" and answer_size(resource, fmt) + HEADROOM > runtime.answer_budget:
                size = -(-answer_size(resource, fmt) // 1024)
                warnings.append(RAW_OVER_BUDGET.format(record=record, size=size, kb=runtime.answer_budget // 1024))
                fmt = "compact"
            shown = present(resource, fmt)
            result = ReadResult(resource_type=op.resource, id=str(resource.get("id", resource_id)), resource=shown,
                                warnings=warnings)
            text = "\n".join([record_line(shown), *(f"warning: {w}" for w in warnings)]) if fmt == "compact" else None
            return tool_result(result, text)
    else:
        async def handler(**arguments: Any) -> CallToolResult:
            try:
                query = search_params(op, arguments, runtime.page_size)
            except EpicMcpError as exc:
                raise ToolError(str(exc)) from None
            limit = arguments.get("count") or runtime.page_size
            fmt = arguments["format"]
            if arguments.get("current_only"):
                return await current_medications(runtime, op, arguments, limit, fmt)
            if arguments["count_only"]:
                return await count_matches(runtime, op, query)
            page = await call_fhir(op.tool, lambda: runtime.client().search(op.resource, query, limit))
            server_sorted = False
            if _has_more(page) and (sort := await runtime.sort_key(op)) is not None:
                by_date = [*query, ("_sort", sort)]
                page = await call_fhir(op.tool, lambda: runtime.client().search(op.resource, by_date, limit))
                server_sorted = True
            at = Position(op.resource, page.url, arguments.get("patient_id") if op.resource != "Patient" else None,
                          limit, server_sorted=server_sorted)
            result, texts = await search_page(runtime, page, at, fmt)
            return page_result(result, fmt, texts)

    handler.__name__ = op.tool
    handler.__doc__ = description(op)
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        _arguments(op, runtime.max_page_size), return_annotation=Annotated[CallToolResult, output_model(op)]
    )
    return handler


def _has_more(page: Page) -> bool:
    """Whether the result goes on past this page (where its order matters beyond what this page shows)."""
    return page.remaining > 0 or bundle_parts(page.bundle)[3] is not None


async def count_matches(runtime: Runtime, op: Operation, query: list[tuple[str, str]]) -> CallToolResult:
    """How many match, by _summary=count (else the total of a one-item page); unknown is said, not guessed, and
    a page size is never presented as a count."""
    filters = [(name, value) for name, value in query if name != "_count"]
    warnings: list[str] = []
    total = at_least = None
    for extra in ([("_summary", "count")], [("_count", "1")]):
        found = await call_fhir(op.tool, functools.partial(runtime.client().search, op.resource, filters + extra, 1))
        ignored = ignored_parameters(found.bundle, filters)
        if ignored:
            warnings = [f"the server ignored {', '.join(sorted(ignored))}, so its total would count other "
                        "records; the count is unknown"]
            break
        _, _, server_total, next_link = bundle_parts(found.bundle)
        if server_total is not None:
            total, at_least = reported_total(server_total, 0, found.results, next_link is not None)
            break
    if at_least is not None:
        warnings.append(f"the server reported the size of one page ({at_least}), not a count; at least {at_least} "
                        "match: page through the search to count them all")
    elif total is None and not warnings:
        warnings.append("the server did not report a total; page through the search to count")
    result = SearchResult(resource_type=op.resource, total=total, total_at_least=at_least, returned=0, items=[],
                          order=None, warnings=warnings, next_cursor=None)
    count = total if total is not None else (f"at least {at_least}" if at_least is not None else "unknown")
    text = f"{op.resource} count: {count}"
    return tool_result(result, "\n".join([text, *(f"warning: {w}" for w in warnings)]))


def make_next_page(runtime: Runtime) -> Callable[..., Awaitable[CallToolResult]]:
    async def next_page(
        cursor: Annotated[str, Field(description="next_cursor from an earlier search result.", max_length=4096)],
        format: Annotated[Format, FORMAT_FIELD] = "compact",
    ) -> Annotated[CallToolResult, SearchResult]:
        """Continue any search: returns the next page of the search that gave this cursor."""
        try:
            at = runtime.cursors.decode(cursor)
        except InvalidCursor as exc:
            raise ToolError(str(exc)) from None
        page = await call_fhir("next_page", lambda: runtime.client().follow(at.url, at.resource_type, at.limit,
                                                                           at.skip))
        result, texts = await search_page(runtime, page, at, format)
        return page_result(result, format, texts)

    return next_page


# search_medication_requests(current_only=true) ----------------------------------------------------------------

CURRENT_ORDER = "one per current drug, its newest current order, newest first; rules: docs/medication-currency.md"


async def current_medications(runtime: Runtime, op: Operation, arguments: dict[str, Any], limit: int,
                              fmt: str) -> CallToolResult:
    """search_medication_requests(current_only=true): the drugs a patient takes now, by the rule set of
    answers/medications.py (the one patient_summary uses): one line per drug, its newest current order, and every
    active order left out named with the reason, so nothing is dropped silently."""
    from ..answers.medications import medication_list  # the rule set: on first use only

    if arguments.get("status") not in (None, "active"):
        raise ToolError("current_only judges the active orders; leave status out (or set it to active)")
    patient_id = str(arguments["patient_id"])
    judged = await call_fhir(op.tool, lambda: medication_list(runtime.client(), patient_id,
                                                              runtime.today_for(patient_id)))
    current = judged.current
    warnings = [*judged.orders.warnings, *(_left_out(d) for d in judged.stale)]
    if not judged.orders.complete:
        warnings.append(f"only the first {judged.orders.pages} pages of active orders were read; the judgment "
                        "covers those")
    if arguments["count_only"]:
        result = SearchResult(resource_type=op.resource, total=len(current), total_at_least=None, returned=0,
                              items=[], order=CURRENT_ORDER, warnings=warnings, next_cursor=None)
        return tool_result(result, "\n".join([f"{op.resource} count: {len(current)} current drugs",
                                              *(f"warning: {w}" for w in warnings)]))
    presented = [_presented(d, fmt) for d in current]
    shown = min(limit, fitting(presented, fmt, runtime.answer_budget))
    if shown < len(current):
        warnings.append(f"{len(current) - shown} more current drugs not shown: ask with a larger count (or "
                        "format=compact)")
    if fmt == "raw":
        warnings += [f"MedicationRequest/{d.order.get('id')}: {d.verdict.reason}" for d in current[:shown]
                     if d.verdict.reason]
    page = SearchResult(resource_type=op.resource, total=len(current), total_at_least=None, returned=shown,
                        items=presented[:shown], order=CURRENT_ORDER, warnings=warnings, next_cursor=None)
    return page_result(page, fmt)


def _presented(drug: Drug, fmt: str) -> dict[str, Any]:
    """The drug's newest current order; in compact form with how many active orders it has and what a clinician
    should know of it (an overdue refill within its grace period)."""
    record = present(drug.order, fmt)
    if fmt == "raw":
        return record
    extra = {"active_orders": len(drug.orders) if len(drug.orders) > 1 else None, "caveat": drug.verdict.reason}
    return {**record, **{k: v for k, v in extra.items() if v}}


def _left_out(drug: Drug) -> str:
    return f"left out as likely stale: {drug.name} (MedicationRequest/{drug.order.get('id')}): {drug.verdict.reason}"
