"""The minimum PHI mode (EPIC_PHI_MODE=minimum): de-identified answers for deployments that send them to a
hosted model. One layer between the tools and the FHIR client; see SECURITY.md for what it covers."""

from __future__ import annotations

from datetime import date

from ..fhir.catalog import CATALOG
from ..fhir.client import FhirClient
from ..fhir.validation import accept_pseudonyms_of
from ..settings import Settings
from .client import DeidentifyingClient, today_in_frame
from .pseudonyms import PseudonymCodec
from .resources import Deidentifier, Policy

INSTRUCTIONS = """\
PHI-minimising mode: ids and identifiers are pseudonyms (pass them back as they are), names and contact details
are removed, and each patient's dates are moved by a secret offset of 30 days to a year, earlier or later, the
same for all of that patient's records. Order and intervals between a patient's dates are true;
compare them with each other, never with today's calendar date (the summaries' "upcoming" and "recent" already
account for the offset)."""


class PhiLayer:
    """What the server needs of the minimum PHI mode: the wrapped client, and today in a patient's frame."""

    instructions = INSTRUCTIONS

    def __init__(self, settings: Settings) -> None:
        assert settings.epic_phi_secret is not None
        policy = Policy(shift_dates=settings.epic_phi_shift_dates,
                        practitioners=settings.epic_phi_pseudonymize_practitioners)
        self.deid = Deidentifier(PseudonymCodec(settings.epic_phi_secret.get_secret_value()), policy,
                                 settings.fhir_base_url, settings.today)
        self._wrapped: tuple[FhirClient, DeidentifyingClient] | None = None
        self._kinds = sorted({op.resource for op in CATALOG if policy.pseudonymized(op.resource)})
        accept_pseudonyms_of(self)

    def client(self, fhir: FhirClient) -> DeidentifyingClient:
        """The de-identifying client over this connection's client (one per connection, for its caches)."""
        if self._wrapped is None or self._wrapped[0] is not fhir:
            self._wrapped = (fhir, DeidentifyingClient(fhir, self.deid))
        return self._wrapped[1]

    def issued(self, value: str) -> bool:
        """Whether a value is a pseudonym of an id this deployment issued (of any type a tool can take)."""
        return any(self.deid.codec.reveal(kind, value) is not None for kind in self._kinds)

    def today_for(self, patient_pseudonym: str, today: date) -> date:
        return today_in_frame(self.deid, patient_pseudonym, today)

    def pseudonym(self, resource_type: str, real_id: str) -> str:
        return self.deid.pseudonym(resource_type, real_id)
