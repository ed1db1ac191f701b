"""search_medication_requests(current_only=true): the medications a patient takes now, by the rule set of
medications.py (the one patient_summary uses): one line per drug, its newest current order, and every active order
left out said with the reason, so nothing is dropped silently."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from .medications import Drug, medication_list
from .results import SearchResult
from .tools import call_fhir, fitting, page_result, present, tool_result

if TYPE_CHECKING:
    from .catalog import Operation
    from .tools import Runtime

ORDER = ("one per current drug, its newest current order, newest first; rules: docs/medication-currency.md")


async def current_medications(runtime: Runtime, op: Operation, arguments: dict[str, Any], limit: int,
                              fmt: str) -> CallToolResult:
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
                              items=[], order=ORDER, warnings=warnings, next_cursor=None)
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
                        items=presented[:shown], order=ORDER, warnings=warnings, next_cursor=None)
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
