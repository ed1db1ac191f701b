"""The patient allowlist of an MCP client, enforced on what the FHIR server sends back.

Tool arguments that name a patient are checked before a call (access.py); this guard covers everything else: a
read by id of another patient's record, a search by name or identifier that matches other patients, a
server that ignores the patient filter, next-page links, and counts that would reveal how many records other
patients have. Records of types that belong to patients but name none are withheld too (fail closed); types
that are not about a patient (clinicians, places, drugs, forms) pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from ..errors import FhirError, FhirErrorKind
from ..fhir.results import linked_patients
from .principal import current_client

if TYPE_CHECKING:
    import httpx

    from ..fhir.client import FhirClient, Page

NOT_ABOUT_A_PATIENT = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location", "Medication",
                                 "Questionnaire", "OperationOutcome"})
PATIENT_PARAMETERS = ("patient", "subject", "beneficiary")
REFUSED = ("this MCP client may only see the records of the patients it is allowed; {what} (ask the server's "
           "operator to add the patient to this client's allowlist)")
WITHHELD = ("{n} record(s) of patients this MCP client is not allowed to see were withheld; the total is not "
            "shown")


def for_current_client(fhir: FhirClient) -> FhirClient:
    """The FHIR client as the calling MCP client may use it: guarded when it is limited to some patients."""
    client = current_client()
    if client is None or client.patients is None:
        return fhir
    return cast("FhirClient", AllowlistGuard(fhir, client.patients))


def refusal(what: str) -> FhirError:
    return FhirError(FhirErrorKind.REFUSED, REFUSED.format(what=what))


def _is_match(entry: Any) -> bool:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    return isinstance(resource, dict) and resource.get("resourceType") != "OperationOutcome"


def _ids(value: str) -> list[str]:
    return [item.strip().rsplit("Patient/", 1)[-1] for item in value.split(",") if item.strip()]


class AllowlistGuard:
    """A FhirClient as seen by a client limited to `patients`: same methods, other patients' records removed."""

    def __init__(self, fhir: FhirClient, patients: frozenset[str]) -> None:
        self._fhir = fhir
        self._patients = patients

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fhir, name)

    def allowed(self, resource: dict[str, Any]) -> bool:
        kind = resource.get("resourceType")
        if kind == "Patient":
            return resource.get("id") in self._patients
        if kind in NOT_ABOUT_A_PATIENT:
            return True
        linked = linked_patients(resource)
        return bool(linked) and linked <= self._patients

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        if resource_type == "Patient" and resource_id not in self._patients:
            raise refusal("that patient is not one of them")
        return self._checked(await self._fhir.read(resource_type, resource_id))

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]], limit: int | None) -> Page:
        scoped = self._scope_of(resource_type, params)
        return self._filtered(resource_type, scoped, await self._fhir.search(resource_type, params, limit))

    async def follow(self, url: httpx.URL, resource_type: str, limit: int | None, skip: int = 0) -> Page:
        scoped = self._scope_of(resource_type, url.params.multi_items())
        return self._filtered(resource_type, scoped, await self._fhir.follow(url, resource_type, limit, skip))

    def _scope_of(self, resource_type: str, query: Sequence[tuple[str, str]]) -> bool:
        """Whether the query is limited to allowed patients; refused before sending when it names another."""
        named = [pid for name, value in query
                 if name.split(":")[0] in PATIENT_PARAMETERS or (resource_type == "Patient" and name == "_id")
                 for pid in _ids(value)]
        if any(pid not in self._patients for pid in named):
            raise refusal("the search names another patient")
        return bool(named)

    def _checked(self, resource: dict[str, Any]) -> dict[str, Any]:
        if not self.allowed(resource):
            raise refusal("that record belongs to another patient, or to none")
        return resource

    def _filtered(self, resource_type: str, scoped: bool, page: Page) -> Page:
        bundle = page.bundle
        entries = bundle.get("entry")
        entries = entries if isinstance(entries, list) else []
        kept = [e for e in entries if not isinstance(e, dict) or not isinstance(e.get("resource"), dict)
                or self.allowed(e["resource"])]
        withheld = len(entries) - len(kept)
        result = {**bundle, "entry": kept}
        total = bundle.get("total")
        matches = sum(1 for e in kept if _is_match(e))
        countable = scoped or resource_type in NOT_ABOUT_A_PATIENT or (isinstance(total, int) and total <= matches)
        if withheld or not countable:
            result.pop("total", None)
        if withheld:
            result["entry"] = [*kept, {"resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "suppressed", "details": {"text": WITHHELD.format(
                    n=withheld)}}]}, "search": {"mode": "outcome"}}]
        return replace(page, bundle=result, countable=page.countable and not withheld and countable)
