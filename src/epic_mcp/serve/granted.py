"""Scope-aware tools: once a token shows which FHIR scopes the app was granted, the tools it cannot use are
hidden (with a tools/list_changed notification) and a call to one fails locally with the fix.

Epic grants a Backend Services app the APIs registered on it and lists them in the token response's `scope`:
SMART v1 (`system/Observation.read`), v2 (`system/Observation.rs`, possibly with a `?category=` filter) or a
wildcard (`system/*.read`). Matching is generous, because hiding a tool that would have worked is worse than
showing one that fails: any context (system/user/patient) and any filtered scope count. A token response
without `scope` hides nothing. patient_summary stays (its sections report what is not authorized), and so do
next_page and check_connection.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mcp.server.subscriptions import SubscriptionBus, ToolsListChanged

from ..access.policy import listed_tools, refused_call
from ..access.profiles import ALL_TOOLS
from ..fhir.catalog import BY_TOOL, HELPERS

logger = logging.getLogger(__name__)

HELPER_NEEDS = {tool: (resource, interaction) for tool, (resource, interaction) in HELPERS.items()
                if resource and interaction}
SMART_SCOPE = re.compile(r"(?:system|user|patient)/(\*|[A-Za-z]+)\.(\*|read|write|[cruds]+)(?:\?.*)?")
V2_LETTER = {"read": "r", "search": "s"}


def needs(tool: str) -> tuple[str, str] | None:
    """(resource type, interaction) a tool needs, or None for tools that need no scope of their own."""
    op = BY_TOOL.get(tool)
    return (op.resource, op.interaction) if op is not None else HELPER_NEEDS.get(tool)


def grants(scopes: Iterable[str], resource: str, interaction: str) -> bool:
    for scope in scopes:
        match = SMART_SCOPE.fullmatch(scope)
        if match is None or match.group(1) not in ("*", resource):
            continue
        permission = match.group(2)
        if permission in ("*", "read") or (permission != "write" and V2_LETTER[interaction] in permission):
            return True
    return False


@functools.lru_cache(maxsize=16)
def unauthorized_tools(scopes: tuple[str, ...] | None) -> frozenset[str]:
    """The tools the granted scopes do not cover; none when the scopes are unknown or were not listed."""
    if not scopes:
        return frozenset()
    return frozenset(tool for tool in ALL_TOOLS if (need := needs(tool)) is not None and not grants(scopes, *need))


def refusal(tool: str) -> str:
    need = needs(tool)
    resource = need[0] if need else "?"
    return (f"{tool} needs the {resource} API (scope system/{resource}.read, or system/{resource}.rs), which the "
            f"FHIR server did not grant this app. Add the {resource} API to the app's registration (at "
            "fhir.epic.com: the app's incoming APIs), wait for Epic to sync it; the next access token carries it "
            "(restart epic-mcp to get one now)")


class GrantedScopes:
    """Server middleware: hides and refuses the tools the current token does not authorize."""

    def __init__(self, scopes: Callable[[], tuple[str, ...] | None], bus: SubscriptionBus) -> None:
        self._scopes = scopes
        self._bus = bus
        self._announced: frozenset[str] = frozenset()

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        hidden = unauthorized_tools(self._scopes())
        if ctx.method == "tools/list":
            return listed_tools(await call_next(ctx), lambda name: name not in hidden)
        if ctx.method != "tools/call":
            return await call_next(ctx)
        tool = str(ctx.params.get("name")) if isinstance(ctx.params, Mapping) else ""
        if tool in hidden:
            return refused_call(tool, refusal(tool))
        result = await call_next(ctx)
        await self._announce(ctx)
        return result

    async def _announce(self, ctx: Any) -> None:
        """After a call that brought a token with other scopes: tools/list_changed, on both protocol eras (a
        subscriptions/listen event, and a notification on a handshake-era session). Best effort."""
        hidden = unauthorized_tools(self._scopes())
        if hidden == self._announced:
            return
        self._announced = hidden
        logger.info("%d tool(s) hidden: the access token does not grant their scopes", len(hidden))
        try:
            await self._bus.publish(ToolsListChanged())
            await ctx.session.send_tool_list_changed()
        except Exception as exc:  # a notification must never fail the call that triggered it
            logger.debug("tools/list_changed not delivered: %s", type(exc).__name__)
