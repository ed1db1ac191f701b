"""An optional audit trail (EPIC_AUDIT_LOG): one JSON line per tool call or resource read, with no patient data.

Each line: time, the MCP client (its name over authenticated HTTP, else "local"), tool (or `resource` and the URI's
scheme), resource type, outcome, how many records were returned, latency, and an HMAC-SHA256 of the patient id (keyed
by EPIC_AUDIT_HMAC_KEY) so an operator can link the calls about one patient, and, holding the key, check whether a
given patient was looked up, without the log ever containing the id.
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

from ..fhir.catalog import BY_TOOL, HELPERS
from ..fhir.results import linked_patients
from .principal import LOCAL_CLIENT, client_name

HELPER_RESOURCES = {tool: resource for tool, (resource, _) in HELPERS.items() if resource}


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

    def record(self, tool: str, arguments: dict[str, Any], result: Any, latency_ms: float,
               client: str = LOCAL_CLIENT) -> None:
        patient_id = arguments.get("patient_id") or (arguments.get("id") if tool == "get_patient" else None)
        op = BY_TOOL.get(tool)
        self._write(client, tool, op.resource if op else HELPER_RESOURCES.get(tool), _outcome(result),
                    _count(result), latency_ms, patient_id if isinstance(patient_id, str) else None)

    def record_read(self, uri: str, result: Any, latency_ms: float, client: str = LOCAL_CLIENT) -> None:
        """A resource read: `fhir://Type/id` names the type, and the patient is the resource itself or the one
        the returned resource belongs to."""
        scheme, _, rest = uri.partition("://")
        resource_type, _, resource_id = rest.partition("/") if scheme == "fhir" else (None, "", "")
        patients = sorted(_linked_patients_of(result))
        patient = resource_id if resource_type == "Patient" else (patients[0] if len(patients) == 1 else None)
        self._write(client, f"resource:{scheme}", resource_type, "ok" if result is not None else "failed",
                    1 if result is not None and scheme == "fhir" else None, latency_ms, patient)

    def _write(self, client: str, tool: str, resource_type: str | None, outcome: str, count: int | None,
               latency_ms: float, patient_id: str | None) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "client": client,
            "tool": tool,
            "resource_type": resource_type,
            "outcome": outcome,
            "count": count,
            "latency_ms": round(latency_ms, 1),
            "patient": self.patient_hmac(patient_id) if patient_id else None,
        }
        self.append(entry)

    def append(self, entry: dict[str, Any]) -> None:
        """One line; the file is line-buffered, so it is on disk before the caller goes on."""
        self._file.write(json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n")

    async def middleware(self, ctx: Any, call_next: Any) -> Any:
        """Server middleware: observes tools/call and resources/read, passes everything through unchanged."""
        if ctx.method not in ("tools/call", "resources/read") or not isinstance(ctx.params, dict):
            return await call_next(ctx)
        started = time.perf_counter()
        result: Any = None
        try:
            result = await call_next(ctx)
            return result
        finally:
            latency = (time.perf_counter() - started) * 1000
            if ctx.method == "resources/read":
                self.record_read(str(ctx.params.get("uri")), result, latency, client_name())
            else:
                arguments = ctx.params.get("arguments")
                self.record(str(ctx.params.get("name")), arguments if isinstance(arguments, dict) else {}, result,
                            latency, client_name())


def _linked_patients_of(result: Any) -> set[str]:
    """Patients named by the FHIR resources in a resources/read result."""
    found: set[str] = set()
    for content in _field(result, "contents") or []:
        text = _field(content, "text")
        try:
            resource = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            continue
        if isinstance(resource, dict):
            found |= linked_patients(resource)
    return found


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
