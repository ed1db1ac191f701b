"""Logging rules: nothing below WARNING from libraries that log URLs or tool error text."""

from __future__ import annotations

import logging

# httpx logs every request URL at INFO (search values and patient ids are in query strings); the SDK logs
# every tool error's text at INFO (server diagnostics may echo what was searched).
PHI_LOGGERS = ("httpx", "httpcore", "mcp.server.mcpserver.server")


def quiet_phi_loggers() -> None:
    for name in PHI_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
