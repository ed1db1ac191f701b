"""Logging rules: nothing below WARNING from libraries that log URLs or tool error text, and no secret in any
log record, whoever wrote it."""

from __future__ import annotations

import logging
from typing import Any

from .redaction import redact

# httpx logs every request URL at INFO (search values and patient ids are in query strings); the SDK logs
# every tool error's text at INFO (server diagnostics may echo what was searched).
PHI_LOGGERS = ("httpx", "httpcore", "mcp.server.mcpserver.server")


def protect_logs() -> None:
    """Hold the chatty loggers at WARNING and redact secrets from every record (idempotent)."""
    for name in PHI_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "redacts", False):
        logging.setLogRecordFactory(_redacting(factory))


def _redacting(make_record: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make_record(*args, **kwargs)
        message = record.getMessage()
        safe = redact(message)
        if safe != message:
            record.msg, record.args = safe, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    return factory
