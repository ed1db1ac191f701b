"""Code systems by their short names: the terminologies whose codes are facts worth keeping, in both the URL and
the OID form Epic sends (`urn:oid:2.16.840.1.113883.6.12` is CPT), and a derived short name for any other system
that is not HL7's own. HL7's own code systems (statuses, interpretation flags, encounter classes) are shown by
their display alone."""

from __future__ import annotations

# Epic's OID root: every Epic-assigned code system and identifier (order ids, flowsheet rows, CSNs) lives under it.
EPIC_OID_ROOT = "urn:oid:1.2.840.114350."

KNOWN: dict[str, tuple[str, ...]] = {
    "LOINC": ("http://loinc.org", "urn:oid:2.16.840.1.113883.6.1", "urn:oid:1.2.246.537.6.96"),
    "SNOMED": ("http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"),
    "RxNorm": ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"),
    "CPT": ("http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"),
    "HCPCS": ("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "urn:oid:2.16.840.1.113883.6.285",
              "urn:oid:2.16.840.1.113883.6.14"),
    "ICD-9-CM": ("http://hl7.org/fhir/sid/icd-9-cm", "urn:oid:2.16.840.1.113883.6.103",
                 "urn:oid:2.16.840.1.113883.6.104", "urn:oid:2.16.840.1.113883.6.2"),
    "ICD-10": ("http://hl7.org/fhir/sid/icd-10", "urn:oid:2.16.840.1.113883.6.3"),
    "ICD-10-CM": ("http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90"),
    "ICD-10-PCS": ("http://www.cms.gov/Medicare/Coding/ICD10", "urn:oid:2.16.840.1.113883.6.4"),
    "CVX": ("http://hl7.org/fhir/sid/cvx", "urn:oid:2.16.840.1.113883.12.292"),
    "MVX": ("http://hl7.org/fhir/sid/mvx", "urn:oid:2.16.840.1.113883.12.227"),
    "NDC": ("http://hl7.org/fhir/sid/ndc", "urn:oid:2.16.840.1.113883.6.69"),
    "NPI": ("http://hl7.org/fhir/sid/us-npi", "urn:oid:2.16.840.1.113883.4.6"),
    "SSN": ("http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.1"),
    "UCUM": ("http://unitsofmeasure.org", "urn:oid:2.16.840.1.113883.6.8"),
    "UNII": ("http://fdasis.nlm.nih.gov", "urn:oid:2.16.840.1.113883.4.9"),
    "NCI": ("http://ncithesaurus-stage.nci.nih.gov", "http://ncimeta.nci.nih.gov", "urn:oid:2.16.840.1.113883.3.26.1.1",
            "urn:oid:2.16.840.1.113883.3.26.1.5"),
    "NUCC": ("http://nucc.org/provider-taxonomy", "urn:oid:2.16.840.1.113883.6.101"),
    "CDC race": ("urn:oid:2.16.840.1.113883.6.238",),
    "ATC": ("http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"),
    "MED-RT": ("http://va.gov/terminology/medrt", "urn:oid:2.16.840.1.113883.6.345"),
    "ICF": ("http://hl7.org/fhir/sid/icf", "urn:oid:2.16.840.1.113883.6.254"),
}
LABELS = {system: label for label, systems in KNOWN.items() for system in systems}

# HL7's own vocabularies: the display (or the code itself) says all; the system adds nothing a reader cites.
HL7_PREFIXES = ("http://terminology.hl7.org/", "http://hl7.org/fhir/", "urn:oid:2.16.840.1.113883.5.",
                "urn:oid:2.16.840.1.113883.18.", "urn:oid:2.16.840.1.113883.4.642.", "urn:ietf:bcp:47",
                "urn:iso:std:iso:3166", "urn:ietf:rfc:3986")


def is_hl7_vocabulary(system: str) -> bool:
    return system.startswith(HL7_PREFIXES) and system not in LABELS


def system_label(system: str | None) -> str | None:
    """The short name a code is shown with ('LOINC', 'CPT', 'Epic', 'JLAC10'), or None for HL7's own systems and
    codings without a system."""
    if not system or is_hl7_vocabulary(system):
        return None
    if system in LABELS:
        return LABELS[system]
    if system.startswith(EPIC_OID_ROOT) or "epic.com/" in system:
        return "Epic"
    if system.startswith("urn:oid:"):
        return "OID " + system.removeprefix("urn:oid:")
    return _name_from_url(system)


def _name_from_url(system: str) -> str:
    """The most specific name in a URL: its last path segment, else its host, without CodeSystem/ValueSet noise (a
    scheme is never the last segment of a URL with a host)."""
    segments = [s for s in system.split("/") if s and s.lower() not in ("codesystem", "valueset", "fhir", "sid")]
    return segments[-1] if segments else system
