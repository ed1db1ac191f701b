"""The code systems the population views name: each short name (the column `loinc`, the `system_name` 'loinc')
with every URI a record may write it as (the URL, the OID Epic sends, national editions), and the FHIR codes of
the statuses and categories the views normalise.

The ViewDefinitions (views/*.json) spell these lists out in FHIRPath, so any SQL-on-FHIR engine can run them; a
test holds each view to this table.
"""

from __future__ import annotations

from ..render.terminology import EPIC_OID_ROOT, KNOWN

# Short name -> every system URI of it. ICD-10 covers WHO's, the US clinical modification and Japan's MHLW edition:
# a population question about "E11" means all of them (system in the coding tables tells them apart).
SYSTEMS: dict[str, tuple[str, ...]] = {
    "loinc": KNOWN["LOINC"],
    "snomed": KNOWN["SNOMED"],
    "icd10": (*KNOWN["ICD-10-CM"], *KNOWN["ICD-10"], "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full"),
    "icd9": KNOWN["ICD-9-CM"],
    "rxnorm": KNOWN["RxNorm"],
    "ndc": KNOWN["NDC"],
    "cvx": KNOWN["CVX"],
    "cpt": KNOWN["CPT"],
    "unii": KNOWN["UNII"],
    "jlac10": ("urn:oid:1.2.392.200119.4.1005", "urn:oid:1.2.392.200119.4.504"),
    "hot": ("http://medis.or.jp/CodeSystem/master-HOT7", "http://medis.or.jp/CodeSystem/master-HOT9",
            "urn:oid:1.2.392.200119.4.403.1"),
    "yj": ("http://capstandard.jp/iyaku.info/CodeSystem/YJ-code", "urn:oid:1.2.392.100495.20.2.74"),
}
# Epic's own code systems: its OID root, and the URLs of its FHIR extensions (flowsheet ids, categories).
EPIC_PREFIXES = (EPIC_OID_ROOT, "http://open.epic.com/", "http://epic.com/")

# FHIR-defined codes of the concepts the views normalise (a record coding them in another system, e.g. JP Core's
# observation category, gets FHIR's code when it uses the same one).
OBSERVATION_CATEGORIES = ("social-history", "vital-signs", "imaging", "laboratory", "procedure", "survey", "exam",
                          "therapy", "activity")
CONDITION_CATEGORIES = ("problem-list-item", "encounter-diagnosis", "health-concern")
CONDITION_CLINICAL = ("active", "recurrence", "relapse", "inactive", "remission", "resolved")
CONDITION_VERIFICATION = ("unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error")
ALLERGY_CLINICAL = ("active", "inactive", "resolved")
ALLERGY_VERIFICATION = ("unconfirmed", "confirmed", "refuted", "entered-in-error")
MEDICATION_REQUEST_CATEGORIES = ("inpatient", "outpatient", "community", "discharge")


def one_of(values: tuple[str, ...]) -> str:
    """A FHIRPath collection of string literals: ('a' | 'b')."""
    return "(" + " | ".join(f"'{value}'" for value in values) + ")"


def codes_of(concept: str, name: str) -> str:
    """The FHIRPath of every code of one system in a CodeableConcept (or a list of them), each once."""
    return f"{concept}.coding.where(system in {one_of(SYSTEMS[name])}).code.distinct()"


def system_name_path() -> str:
    """The FHIRPath that names a Coding's system by its short name ('loinc', 'epic'), empty when unknown."""
    epic = " or ".join(f"system.startsWith('{prefix}')" for prefix in EPIC_PREFIXES)
    expression = f"iif({epic}, 'epic', {{}})"
    for name in reversed(SYSTEMS):
        expression = f"iif(system in {one_of(SYSTEMS[name])}, '{name}', {expression})"
    return expression


def normalised_path(concept: str, fhir_codes: tuple[str, ...], aliases: dict[str, str] | None = None) -> str:
    """FHIR's code for a coded concept from any system: the first coding whose code is one of FHIR's, else an alias
    (another system's code for the same concept, e.g. v2's LAB for laboratory), else the first code as recorded."""
    fallback = f"{concept}.coding.code.first()"
    for alias, code in (aliases or {}).items():
        fallback = f"iif({concept}.coding.where(code = '{alias}').exists(), '{code}', {fallback})"
    wanted = f"{concept}.coding.where(code in {one_of(fhir_codes)})"
    return f"iif({wanted}.exists(), {wanted}.code.first(), {fallback})"


def system_names() -> str:
    """The short names as the model is told them."""
    return ", ".join([*SYSTEMS, "epic"])
