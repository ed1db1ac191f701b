"""An optional audit trail (EPIC_AUDIT_LOG): one JSON line per tool call, with no patient data in it.

Each line: time, tool, resource type, outcome, how many records were returned, latency, and an HMAC-SHA256 of the
patient id (keyed by EPIC_AUDIT_HMAC_KEY) so an operator can link the calls about one patient, and, holding the
key, check whether a given patient was looked up, without the log ever containing the id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .catalog import BY_TOOL

HELPER_RESOURCES = {"patient_summary": "Patient", "get_document_text": "DocumentReference",
                    "get_latest_values": "Observation", "find_test_patients": "Patient"}


class AuditLog:
    def __init__(self, path: Path, key: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a", buffering=1, encoding="utf-8")
        self._key = key.encode()

    def close(self) -> None:
        self._file.close()

    def patient_hmac(self, patient_id: str) -> str:
        return hmac.new(self._key, patient_id.encode(), hashlib.sha256).hexdigest()

    def record(self, tool: str, arguments: dict[str, Any], result: Any, latency_ms: float) -> None:
        patient_id = arguments.get("patient_id") or (arguments.get("id") if tool == "get_patient" else None)
        op = BY_TOOL.get(tool)
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "tool": tool,
            "resource_type": op.resource if op else HELPER_RESOURCES.get(tool),
            "outcome": _outcome(result),
            "count": _count(result),
            "latency_ms": round(latency_ms, 1),
            "patient": self.patient_hmac(patient_id) if isinstance(patient_id, str) else None,
        }
        self.append(entry)

    def append(self, entry: dict[str, Any]) -> None:
        """One line; the file is line-buffered, so it is on disk before the caller goes on."""
        self._file.write(json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n")

    async def middleware(self, ctx: Any, call_next: Any) -> Any:
        """Server middleware: observes tools/call, passes everything through unchanged."""
        if ctx.method != "tools/call" or not isinstance(ctx.params, dict):
            return await call_next(ctx)
        started = time.perf_counter()
        result: Any = None
        try:
            result = await call_next(ctx)
            return result
        finally:
            arguments = ctx.params.get("arguments")
            self.record(str(ctx.params.get("name")), arguments if isinstance(arguments, dict) else {}, result,
                        (time.perf_counter() - started) * 1000)


def _field(result: Any, name: str) -> Any:
    return result.get(name) if isinstance(result, dict) else getattr(result, name, None)


def _outcome(result: Any) -> str:
    if result is None:
        return "failed"
    return "error" if _field(result, "is_error") or _field(result, "isError") else "ok"


def _count(result: Any) -> int | None:
    structured = _field(result, "structured_content") or _field(result, "structuredContent")
    if not isinstance(structured, dict):
        return None
    if isinstance(structured.get("returned"), int):
        return structured["returned"]
    if isinstance(structured.get("sections"), list):
        return sum(len(s.get("items", [])) for s in structured["sections"] if isinstance(s, dict))
    for key in ("values", "patients"):
        if isinstance(structured.get(key), list):
            return len(structured[key])
    return 1 if "resource" in structured or "text" in structured else None
