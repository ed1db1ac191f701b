"""The FHIR client every tool and resource uses in the minimum PHI mode: the real client behind a layer that maps
what the model sends (pseudonyms, shifted dates) back to real values, and de-identifies every answer.

It has FhirClient's interface, so no tool knows the mode. Whatever it does not know how to de-identify, it
refuses: a method FhirClient gains later fails on this class instead of passing real data through.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import httpx

from ..errors import FhirError, FhirErrorKind
from ..fhir.client import FhirClient, Page
from ..fhir.validation import InvalidInput
from .dates import shift_search_value
from .resources import Deidentifier, MissingIdentity, patient_of, readable_text
from .scrub import Identity

# Search parameters whose values are ids of a given type, and those that are dates of the searched patient.
ID_PARAMS = {"patient": "Patient", "subject": "Patient", "beneficiary": "Patient", "practitioner": "Practitioner"}
PATIENT_PARAMS = ("patient", "subject", "beneficiary")
UNSHIFTED_DATES = frozenset({"birthdate"})
IDENTITY_TTL_SECONDS = 300.0
IDENTITY_CACHE_SIZE = 256
NOT_A_PSEUDONYM = ("{arg} is not a pseudonym this server issued (PHI-minimising mode: ids are pseudonyms); "
                   "use an id from a search result")
A_PATIENT_NOT_A = ("{arg} is a patient's pseudonym, not the id of a {kind} (PHI-minimising mode: {kind} ids are "
                   "Epic's own); use a {kind} id from a search result")


class IdentityCache:
    """The identities of recently seen patients, each read once (callers at the same time share one read, and a
    caller that gives up does not cancel it for the others)."""

    def __init__(self, read: Callable[[str], Awaitable[dict[str, Any]]], ttl: float = IDENTITY_TTL_SECONDS,
                 size: int = IDENTITY_CACHE_SIZE) -> None:
        self._read = read
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[str, tuple[float, asyncio.Future[Identity]]] = OrderedDict()

    def remember(self, patient: dict[str, Any]) -> Identity:
        identity = Identity.of(patient)
        future: asyncio.Future[Identity] = asyncio.get_running_loop().create_future()
        future.set_result(identity)
        self._store(identity.patient_id, future)
        return identity

    async def get(self, patient_id: str) -> Identity:
        entry = self._entries.get(patient_id)
        if entry is None or time.monotonic() - entry[0] >= self._ttl:
            task = asyncio.ensure_future(self._load(patient_id))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            entry = self._store(patient_id, task)
        self._entries.move_to_end(patient_id)
        try:
            return await asyncio.shield(entry[1])
        except FhirError:
            if self._entries.get(patient_id) is entry:
                del self._entries[patient_id]
            raise

    async def _load(self, patient_id: str) -> Identity:
        return Identity.of(await self._read(patient_id))

    def _store(self, patient_id: str, future: asyncio.Future[Identity]) -> tuple[float, asyncio.Future[Identity]]:
        entry = self._entries[patient_id] = (time.monotonic(), future)
        self._entries.move_to_end(patient_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return entry


class DeidentifyingClient(FhirClient):
    """FhirClient's interface over a real FhirClient, for the minimum PHI mode."""

    def __init__(self, inner: FhirClient, deidentifier: Deidentifier) -> None:
        # FhirClient.__init__ is not called on purpose: this object owns no HTTP client, only `inner` does.
        self.inner = inner
        self.deid = deidentifier
        self.base_url = inner.base_url
        self.timeout = inner.timeout
        self.identities = IdentityCache(self._read_patient)

    async def _read_patient(self, patient_id: str) -> dict[str, Any]:
        try:
            return await self.inner.read("Patient", patient_id)
        except FhirError as exc:
            # The patient's real id, which a server may echo in its error, is masked as any value sent is.
            raise FhirError(exc.kind, "PHI-minimising mode reads the patient's record to remove the patient's "
                            "names and numbers from free text, and that failed: "
                            f"{self._clean(str(exc), [patient_id])}", exc.status) from None

    # FhirClient's interface ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self.inner.aclose()

    def url_for(self, *segments: str) -> httpx.URL:
        return self.inner.url_for(*segments)

    def contains(self, url: httpx.URL) -> bool:
        return self.inner.contains(url)

    def masked_path(self, url: httpx.URL) -> str:
        return self.inner.masked_path(url)

    async def metadata(self) -> dict[str, Any]:
        return await self.inner.metadata()

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        real_id = self._real_id("id", resource_type, resource_id)
        resource = await self._guarded(lambda: self.inner.read(resource_type, real_id), [real_id])
        return await self._deidentify(resource)

    async def search(self, resource_type: str, params: Sequence[tuple[str, str]], limit: int | None) -> Page:
        """The first page of a search; the Page names the search by the values the model gave (pseudonyms,
        shifted dates), so following it again (the rest of an oversized page) maps them back the same way."""
        url = self.inner.url_for(resource_type).copy_merge_params(tuple(params))
        return await self.follow(url, resource_type, limit)

    async def follow(self, url: httpx.URL, resource_type: str, limit: int | None, skip: int = 0) -> Page:
        """A page by URL: an opaque paging link this layer issued, or a search URL in the model's values (from
        `search`, or a cursor). Any other URL could carry a real id the model was never meant to hold, or a
        pseudonym that was never mapped back."""
        real = self.deid.real_link(url) if self.inner.contains(url) else None
        if real is not None:
            patient = self._patient_of_link(real)
        elif self.inner.contains(url) and url.path == self.inner.url_for(resource_type).path:
            real_params, patient = self._real_params(resource_type, url.params.multi_items())
            real = self.inner.url_for(resource_type).copy_merge_params(tuple(real_params))
        else:
            raise FhirError(FhirErrorKind.REFUSED, "this link was not issued by this server's PHI-minimising mode; "
                            "run the search again")
        target = real
        sent = [str(target), *(value for _, value in target.params.multi_items())]
        page = await self._guarded(lambda: self.inner.follow(target, resource_type, limit, skip), sent)
        return replace(page, bundle=await self._deidentify(page.bundle, patient), url=url)

    async def fetch_binary(self, url: httpx.URL) -> tuple[bytes, str | None]:
        """A note's content as scrubbed plain text; content that is not text is withheld."""
        below = url.raw_path.decode("ascii")[len(self.deid.base.raw_path.decode("ascii")):]
        revealed = self.deid.codec.reveal("Binary", below.removeprefix("Binary/")) \
            if self.inner.contains(url) and below.startswith("Binary/") else None
        if revealed is None or len(revealed) != 2:
            raise FhirError(FhirErrorKind.REFUSED, "this attachment link was not issued by this server's "
                            "PHI-minimising mode; read the document again")
        binary_id, patient_id = revealed
        content, content_type = await self._guarded(
            lambda: self.inner.fetch_binary(self.inner.url_for("Binary", binary_id)), [binary_id])
        text = readable_text(content, content_type)
        if text is None:
            raise FhirError(FhirErrorKind.REFUSED, f"the attachment is {content_type or 'not text'}; "
                            "PHI-minimising mode returns only text it can de-identify")
        identity = await self.identities.get(patient_id) if patient_id else None
        scope = self.deid.scope(patient_id or None, identity, True)
        return scope.scrubber.text(text).encode(), "text/plain; charset=utf-8"

    # Mapping inputs back ---------------------------------------------------------------------------------

    def _real_id(self, arg: str, resource_type: str, value: str) -> str:
        real = self.deid.real_id(resource_type, value)
        if real is None:
            raise InvalidInput(NOT_A_PSEUDONYM.format(arg=arg))
        if real == value and resource_type != "Patient" and self.deid.codec.real("Patient", value) is not None:
            # An id that passes as it is (a clinician's, the directory's) may be a patient's pseudonym the model
            # put in the wrong place: sent as it is, it finds nothing and says nothing of why.
            raise InvalidInput(A_PATIENT_NOT_A.format(arg=arg, kind=resource_type))
        return real

    def _real_params(self, resource_type: str, params: Sequence[tuple[str, str]]
                     ) -> tuple[list[tuple[str, str]], str | None]:
        """Pseudonyms back to ids and identifiers, and dates back by the searched patient's offset."""
        patient: str | None = None
        mapped: list[tuple[str, str]] = []
        for name, value in params:
            base = name.split(":")[0]
            if base in ID_PARAMS or base == "_id":
                target = resource_type if base == "_id" else ID_PARAMS[base]
                kind, _, bare = value.rpartition("/")
                real = self._real_id(name, kind or target, bare)
                value = f"{kind}/{real}" if kind else real
                if base in PATIENT_PARAMS or (base == "_id" and resource_type == "Patient"):
                    patient = real
            elif base == "identifier":
                system, bar, given = value.rpartition("|")
                real_value = self.deid.codec.real("identifier", given)
                value = f"{system}{bar}{real_value}" if real_value is not None else value
            mapped.append((name, value))
        days = self.deid.offset(patient)
        if days:
            mapped = [(name, shift_search_value(value, -days)) if self._is_date(name) else (name, value)
                      for name, value in mapped]
        return mapped, patient

    @staticmethod
    def _is_date(name: str) -> bool:
        """A date parameter of the patient's records (a birth date is not shifted, only generalised)."""
        base = name.split(":")[0]
        return base not in UNSHIFTED_DATES and (base == "date" or base.endswith("date") or base in (
            "authoredon", "onset-date", "recorded-date", "period", "issued", "occurrence", "effective"))

    def _patient_of_link(self, url: httpx.URL) -> str | None:
        for name in PATIENT_PARAMS:
            value = url.params.get(name)
            if value:
                return value.rpartition("/")[2]
        return None

    # De-identifying answers ------------------------------------------------------------------------------

    async def _deidentify(self, document: dict[str, Any], search_patient: str | None = None) -> dict[str, Any]:
        resources = [document]
        if document.get("resourceType") == "Bundle":
            entry = document.get("entry")
            entries: list[Any] = entry if isinstance(entry, list) else []
            resources = [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        identities = await self._identities(resources, search_patient)
        try:
            if document.get("resourceType") == "Bundle":
                return self.deid.bundle(document, identities, search_patient)
            return self.deid.resource(document, identities, search_patient)
        except MissingIdentity:
            raise FhirError(FhirErrorKind.INVALID_RESPONSE, "an answer held records of a patient it did not name "
                            "clearly, so they could not be de-identified; narrow the search") from None

    async def _identities(self, resources: Iterable[dict[str, Any]], search_patient: str | None
                          ) -> dict[str, Identity]:
        known: dict[str, Identity] = {}
        wanted: set[str] = set()
        for resource in resources:
            if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
                known[resource["id"]] = self.identities.remember(resource)
            elif self.deid.policy.pseudonymized(str(resource.get("resourceType"))):
                found = patient_of(resource) or search_patient
                if found:
                    wanted.add(found)
        wanted -= set(known)
        if wanted:
            read = await asyncio.gather(*(self.identities.get(pid) for pid in sorted(wanted)))
            known |= {identity.patient_id: identity for identity in read}
        return known

    async def _guarded(self, call: Callable[[], Awaitable[Any]], sent: list[str]) -> Any:
        """The call, with real values it sent removed from the error message if it fails (servers echo them)."""
        try:
            return await call()
        except FhirError as exc:
            raise FhirError(exc.kind, self._clean(str(exc), sent), exc.status) from None

    def _clean(self, message: str, sent: list[str]) -> str:
        for value in sorted((v for v in sent if len(v) >= 3), key=len, reverse=True):
            message = message.replace(value, "[value]")
        return self.deid.scope(None, None, True).scrubber.text(message)


def today_in_frame(deid: Deidentifier, patient_pseudonym: str, today: date) -> date:
    """Today as the model sees it for one patient: moved by the patient's offset, like every date it reads."""
    real = deid.codec.real("Patient", patient_pseudonym)
    return today if real is None else date.fromordinal(today.toordinal() + deid.offset(real))
