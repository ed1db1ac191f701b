"""De-identified FHIR JSON, table by table: which types are the patient's data and which the directory's, what
is removed from a person, which elements are structure (kept as written), identifiers, references, extensions
kept on a person, ages, attachments' content types, and paging links."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from epic_mcp.answers.ages import AGE_EXTENSION
from epic_mcp.phi.resources import FOREIGN_LINK, Policy, readable_text
from epic_mcp.phi.scrub import Identity

from ..conftest import EPIC_BASE
from .test_phi import CODEC, PATIENT, PID, SUBJECT, deidentifier

IDENTITIES = {PID: Identity.of(PATIENT)}
# Text every scrubbing rule would change: a date, a phone number, a URL, the patient's name.
UCUM = "http://unitsofmeasure.org"
TELLING = "2025-01-02 469-555-0134 http://example.org/x Lopez"
DIRECTORY_TYPES = ["Practitioner", "PractitionerRole", "Organization", "Location", "Medication", "Questionnaire",
                   "HealthcareService", "Endpoint", "Substance", "CapabilityStatement", "ValueSet", "CodeSystem",
                   "StructureDefinition", "SearchParameter", "OperationDefinition"]


def deidentified(resource: dict[str, Any], **policy: bool) -> dict[str, Any]:
    return deidentifier(**policy).resource(resource, IDENTITIES)


@pytest.mark.parametrize("resource_type", DIRECTORY_TYPES)
def test_the_directory_is_no_patient_s_data_and_stays_as_it_is(resource_type: str) -> None:
    record = {"resourceType": resource_type, "id": "d1", "name": TELLING, "description": TELLING}
    assert deidentified(record) == record
    assert not Policy().pseudonymized(resource_type)


@pytest.mark.parametrize("resource_type", ["Practitioner", "PractitionerRole"])
def test_clinicians_become_pseudonyms_only_when_asked(resource_type: str) -> None:
    record = {"resourceType": resource_type, "id": "doc1", "telecom": [{"value": "608-555-0100"}],
              "address": [{"city": "Verona"}], "photo": [{"data": "AAAA"}]}
    assert Policy(practitioners=True).pseudonymized(resource_type)
    out = deidentified(record, practitioners=True)
    assert out == {"resourceType": resource_type, "id": CODEC.pseudonym(resource_type, "doc1")}


@pytest.mark.parametrize("resource_type", ["Observation", "Condition", "Encounter", "SomethingNew"])
def test_every_other_type_is_the_patient_s_data(resource_type: str) -> None:
    out = deidentified({"resourceType": resource_type, "id": "r1", "subject": SUBJECT, "note": [{"text": TELLING}]})
    assert out["id"] == CODEC.pseudonym(resource_type, "r1") and "Lopez" not in str(out)


@pytest.mark.parametrize("resource_type", ["Patient", "RelatedPerson", "Person"])
@pytest.mark.parametrize("element", ["name", "telecom", "photo", "contact", "text", "_name", "_telecom",
                                     "_birthDate", "_address", "_photo"])
def test_what_names_or_reaches_a_person_is_removed(resource_type: str, element: str) -> None:
    person = {"resourceType": resource_type, "id": PID, "patient": SUBJECT, element: [{"value": "x"}],
              "gender": "female"}
    out = deidentified(person)
    assert element not in out and out["gender"] == "female"


@pytest.mark.parametrize("resource_type", ["Patient", "RelatedPerson", "Person"])
def test_a_person_keeps_only_the_state_and_country_of_an_address_and_the_year_of_birth(resource_type: str) -> None:
    person = {"resourceType": resource_type, "id": PID, "patient": SUBJECT, "birthDate": "1987-09-12",
              "address": [{"use": "home", "line": ["3268 West Johnson St."], "city": "Garland", "state": "TX"},
                          {"use": "old", "city": "Dallas"}],
              "extension": [{"url": "http://example.org/favourite-colour", "valueString": "blue"}]}
    out = deidentified(person)
    assert out["birthDate"] == "1987" and out["address"] == [{"use": "home", "state": "TX"}]
    stated = [AGE_EXTENSION] if resource_type == "Patient" else []
    assert [extension["url"] for extension in out.get("extension", [])] == stated, "only the age it states is added"


@pytest.mark.parametrize("url", [
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-genderIdentity",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex",
    "http://hl7.org/fhir/StructureDefinition/patient-genderIdentity",
    "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex",
    "http://open.epic.com/FHIR/StructureDefinition/extension/sex-for-clinical-use",
])
def test_a_person_keeps_the_extensions_that_describe_no_one_in_particular(url: str) -> None:
    extension = {"url": url, "valueCodeableConcept": {"coding": [{"code": "female"}]}}
    out = deidentified({**PATIENT, "extension": [extension]})
    assert [e for e in out["extension"] if e["url"] != AGE_EXTENSION] == [extension]


@pytest.mark.parametrize("element", ["resourceType", "system", "code", "version", "url", "contentType", "language",
                                     "linkId", "profile", "status", "use", "mode", "unit", "currency", "relation",
                                     "intent", "priority", "gender", "type"])
def test_codes_systems_and_structure_are_kept_as_written(element: str) -> None:
    """Their values are terminology, not the patient's words: a code may look like a date or a phone number."""
    written = "2025-01-02" if element != "resourceType" else "Observation"
    out = deidentified({"resourceType": "Observation", "id": "o1", "subject": SUBJECT,
                        "component": [{element: written}, {element: "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"}]})
    assert out["component"] == [{element: written}, {element: "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"}]


@pytest.mark.parametrize("element", ["identifier", "masterIdentifier", "accessionIdentifier", "valueIdentifier"])
def test_every_kind_of_identifier_becomes_a_pseudonym(element: str) -> None:
    out = deidentified({"resourceType": "Specimen", "id": "s1", "subject": SUBJECT,
                        element: {"system": "urn:oid:1.2.3", "value": "ACC-55501"}})
    assert out[element] == {"system": "urn:oid:1.2.3", "value": CODEC.pseudonym("identifier", "ACC-55501")}


@pytest.mark.parametrize("element", ["subscriberId", "serialNumber", "carrierHRF", "carrierAIDC"])
def test_numbers_that_identify_without_being_identifiers_become_pseudonyms(element: str) -> None:
    out = deidentified({"resourceType": "Coverage", "id": "c1", "beneficiary": SUBJECT, element: "W123456789",
                        "note": [{"text": "member W123456789"}]})
    assert out[element] == CODEC.pseudonym("identifier", "W123456789")
    assert out["note"] == [{"text": f"member {CODEC.pseudonym('identifier', 'W123456789')}"}]


@pytest.mark.parametrize(("reference", "expected"), [
    ("Encounter/e1", f"Encounter/{CODEC.pseudonym('Encounter', 'e1')}"),
    ("Encounter/e.1-2", f"Encounter/{CODEC.pseudonym('Encounter', 'e.1-2')}"),
    ("Encounter/7", f"Encounter/{CODEC.pseudonym('Encounter', '7')}"),
    ("Encounter/" + "x" * 64, f"Encounter/{CODEC.pseudonym('Encounter', 'x' * 64)}"),
    ("Encounter/e1/_history/3", f"Encounter/{CODEC.pseudonym('Encounter', 'e1')}/_history/3"),
    ("Encounter/e1/_history/v.2-a", f"Encounter/{CODEC.pseudonym('Encounter', 'e1')}/_history/v.2-a"),
    ("Encounter/e1/_history/V" + "x" * 63, f"Encounter/{CODEC.pseudonym('Encounter', 'e1')}/_history/V" + "x" * 63),
    (f"{EPIC_BASE}/Encounter/e1", f"{EPIC_BASE}/Encounter/{CODEC.pseudonym('Encounter', 'e1')}"),
    ("Location/l1", "Location/l1"),
    ("#contained", "#contained"),
    ("urn:uuid:4a5b", "urn:uuid:4a5b"),
    ("urn:oid:1.2.840.114350.1.13.0.1.7.2.768282", "urn:oid:1.2.840.114350.1.13.0.1.7.2.768282"),
])
def test_references_point_at_pseudonyms_of_the_patient_s_records(reference: str, expected: str) -> None:
    out = deidentified({"resourceType": "Observation", "id": "o1", "subject": SUBJECT,
                        "encounter": {"reference": reference}})
    assert out["encounter"] == {"reference": expected}


@pytest.mark.parametrize("reference", ["Encounter?identifier=123", "encounter/e1", "Encounter/" + "x" * 65,
                                       "Encounter/e1/_history/" + "x" * 65,
                                       "Encounter/e 1", "E/e1"])
def test_a_reference_that_could_carry_an_identifier_some_other_way_is_left_out(reference: str) -> None:
    out = deidentified({"resourceType": "Observation", "id": "o1", "subject": SUBJECT,
                        "encounter": {"reference": reference, "display": "visit"}})
    assert out["encounter"] == {"display": "visit"}


@pytest.mark.parametrize("unit", ["a", "yr", "yrs", "year", "years", "Years"])
def test_an_age_over_89_in_any_unit_of_years_becomes_90_or_more(unit: str) -> None:
    history = {"resourceType": "FamilyMemberHistory", "id": "f1", "patient": SUBJECT,
               "deceasedAge": {"value": 93, "unit": unit}, "ageAge": {"value": 60, "unit": unit}}
    out = deidentified(history)
    assert out["deceasedAge"] == {"value": 90, "unit": unit, "comparator": ">="}
    assert out["ageAge"] == {"value": 60, "unit": unit}


@pytest.mark.parametrize(("age", "shown"), [
    pytest.param({"value": 93, "unit": "yr", "system": UCUM, "code": "a"}, 90, id="coded-in-ucum"),
    pytest.param({"value": 93, "system": UCUM, "code": "a"}, 90, id="a-code-alone"),
    pytest.param({"value": 93, "unit": "years old", "system": UCUM, "code": "a"}, 90, id="a-unit-in-words"),
    pytest.param({"value": 90, "unit": "years", "system": UCUM, "code": "a"}, 90, id="90"),
    pytest.param({"value": 89, "unit": "years", "system": UCUM, "code": "a"}, None, id="89-stays"),
    pytest.param({"value": 89.5, "system": UCUM, "code": "a"}, 90, id="past-89"),
])
def test_an_age_coded_as_fhir_codes_ages_is_90_or_more_past_89(age: dict[str, Any], shown: int | None) -> None:
    """FHIR's Age is a quantity in UCUM (code 'a' for years): a coding of a terminology, whose other codings are
    kept as written, yet an age over 89 identifies under Safe Harbor."""
    history = {"resourceType": "FamilyMemberHistory", "id": "f1", "patient": SUBJECT, "deceasedAge": age,
               "condition": [{"code": {"text": "stroke"}, "onsetAge": age}]}
    out = deidentified(history)
    expected = age if shown is None else {**age, "value": shown, "comparator": ">="}
    assert out["deceasedAge"] == expected and out["condition"][0]["onsetAge"] == expected


def test_an_age_in_other_units_is_left_alone() -> None:
    out = deidentified({"resourceType": "FamilyMemberHistory", "id": "f1", "patient": SUBJECT,
                        "onsetAge": {"value": 95, "unit": "mo"}})
    assert out["onsetAge"] == {"value": 95, "unit": "mo"}


@pytest.mark.parametrize("content_type", ["text/plain", "text/html; charset=utf-8", "application/rtf",
                                          "application/xhtml+xml", "application/xml", "application/json"])
def test_text_content_of_any_text_type_is_read_as_text(content_type: str) -> None:
    assert readable_text(b"Camila seen", content_type) == "Camila seen"


def test_content_without_a_type_is_text_when_it_decodes_as_utf8() -> None:
    assert readable_text(b"Camila seen", None) == readable_text(b"Camila seen", "") == "Camila seen"
    assert readable_text(b"\xff\xfe binary", None) is None


@pytest.mark.parametrize("content_type", ["application/pdf", "image/jpeg", "audio/wav", "application/octet-stream"])
def test_content_that_is_no_text_is_withheld(content_type: str) -> None:
    assert readable_text(b"%PDF-1.4 Camila", content_type) is None
    note = {"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT, "content": [{"attachment": {
        "contentType": content_type, "data": base64.b64encode(b"Camila").decode()}}]}
    assert deidentified(note)["content"] == [{"attachment": {"contentType": content_type}}]


def test_a_next_link_outside_the_base_is_withheld_and_one_inside_becomes_opaque() -> None:
    deid = deidentifier()
    assert FOREIGN_LINK == "https://withheld.invalid/"
    assert deid.opaque_link("https://evil.example.org/R4/Observation?page=2") == FOREIGN_LINK
    assert deid.opaque_link("not a url at all \x00") == FOREIGN_LINK
    opaque = deid.opaque_link(f"{EPIC_BASE}/Observation?patient={PID}&page=2")
    assert opaque.startswith(f"{EPIC_BASE}/_phi/") and PID not in opaque
    import httpx

    assert str(deid.real_link(httpx.URL(opaque))) == f"{EPIC_BASE}/Observation?patient={PID}&page=2"
    assert deid.real_link(httpx.URL(f"{EPIC_BASE}/Observation?page=2")) is None


# References by display alone, to people and to clinicians, and their identifiers ----------------------------

ROSA = "Rosa Gomez"  # a relative the patient's record does not name: no scrubbing rule knows her


@pytest.mark.parametrize(("asserter", "shown"), [
    pytest.param({"display": ROSA, "type": "RelatedPerson"}, {"type": "RelatedPerson"}, id="display-and-type"),
    pytest.param({"display": ROSA, "type": "RelatedPerson",
                  "identifier": {"system": "urn:oid:1.2.3", "value": "R-7781"}},
                 {"type": "RelatedPerson", "identifier": {"system": "urn:oid:1.2.3",
                                                          "value": CODEC.pseudonym("identifier", "R-7781")}},
                 id="display-type-and-identifier"),
    pytest.param({"reference": "RelatedPerson/eRel1", "display": ROSA, "type": "RelatedPerson"},
                 {"reference": f"RelatedPerson/{CODEC.pseudonym('RelatedPerson', 'eRel1')}", "type": "RelatedPerson"},
                 id="a-reference-keeps-what-follows-the-display"),
])
def test_a_reference_to_a_person_loses_the_person_s_name(asserter: dict[str, Any], shown: dict[str, Any]) -> None:
    out = deidentified({"resourceType": "AllergyIntolerance", "id": "a1", "patient": SUBJECT, "asserter": asserter})
    assert out["asserter"] == shown


def test_an_element_that_holds_a_name_and_more_than_a_reference_does_is_scrubbed_as_text() -> None:
    """Only display, identifier and type make a reference without its reference: a coded type is something else."""
    out = deidentified({"resourceType": "AllergyIntolerance", "id": "a1", "patient": SUBJECT,
                        "asserter": {"display": "Camila Lopez", "type": {"text": "mother"}}})
    assert out["asserter"] == {"display": "[name]", "type": {"text": "mother"}}


@pytest.mark.parametrize(("performer", "shown"), [
    pytest.param({"reference": "Practitioner/eDoc1", "display": "Ann Smith"},
                 {"reference": f"Practitioner/{CODEC.pseudonym('Practitioner', 'eDoc1')}",
                  "display": f"Clinician {CODEC.label('Practitioner', 'eDoc1')}"}, id="by-reference"),
    pytest.param({"display": "Ann Smith", "type": "Practitioner"},
                 {"display": f"Clinician {CODEC.label('Practitioner', 'Ann Smith')}", "type": "Practitioner"},
                 id="by-display-alone"),
    pytest.param({"reference": "Location/l1", "display": "Northside Clinic"},
                 {"reference": "Location/l1", "display": "Northside Clinic"}, id="a-place-is-no-clinician"),
])
def test_a_clinician_asked_to_be_hidden_is_named_by_a_label(performer: dict[str, Any], shown: dict[str, Any]) -> None:
    out = deidentified({"resourceType": "Observation", "id": "o1", "subject": SUBJECT, "performer": [performer]},
                       practitioners=True)
    assert out["performer"] == [shown]


NPI = {"system": "http://hl7.org/fhir/sid/us-npi", "type": {"text": "NPI"}, "value": "1234567890"}


def test_an_identifier_in_a_reference_of_the_patient_s_record_becomes_a_pseudonym() -> None:
    performer = {"reference": "Organization/o1", "identifier": NPI, "display": "Northside Clinic",
                 "extension": [{"url": "http://open.epic.com/FHIR/StructureDefinition/extension/department",
                                "valueString": "Cardiology"}]}
    out = deidentified({"resourceType": "Observation", "id": "o1", "subject": SUBJECT, "performer": [performer]})
    hidden = {**NPI, "value": CODEC.pseudonym("identifier", "1234567890")}
    assert out["performer"] == [{**performer, "identifier": hidden}]


def test_an_identifier_in_a_reference_of_the_directory_stays_unless_it_points_at_the_patient_s_data() -> None:
    role = {"resourceType": "PractitionerRole", "id": "r1",
            "practitioner": {"reference": "Practitioner/eDoc1", "identifier": NPI, "display": "Ann Smith"},
            "organization": {"identifier": {"system": "urn:oid:1.2.3", "value": "ORG-77"},
                             "display": "Northside Clinic"}}
    assert deidentified(role) == role
    mrn = {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14", "value": "203713"}
    place = {"resourceType": "Location", "id": "l1", "name": "Room 4", "extension": [
        {"url": "http://open.epic.com/FHIR/StructureDefinition/extension/occupant",
         "valueReference": {"reference": f"Patient/{PID}", "identifier": mrn}}]}
    occupant = deidentified(place)["extension"][0]["valueReference"]
    assert occupant == {"reference": f"Patient/{CODEC.pseudonym('Patient', PID)}",
                        "identifier": {**mrn, "value": CODEC.pseudonym("identifier", "203713")}}


# A record's own numbers in its text, and clinicians' names ------------------------------------------------------

@pytest.mark.parametrize(("record", "number"), [
    pytest.param({"resourceType": "Coverage", "id": "c1", "beneficiary": SUBJECT, "subscriberId": "W123"}, "W123",
                 id="a-member-id-of-4"),
    pytest.param({"resourceType": "Specimen", "id": "s1", "subject": SUBJECT,
                  "identifier": [{"system": "urn:oid:1.2.3"}, {"system": "urn:oid:1.2.4", "value": "SP5501"}]},
                 "SP5501", id="an-identifier-of-6-beside-one-without-a-value"),
    pytest.param({"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT,
                  "masterIdentifier": {"system": "urn:oid:1.2.3", "value": "DOC7781"}}, "DOC7781",
                 id="a-master-identifier"),
])
def test_a_record_s_own_numbers_in_its_text_become_their_pseudonyms(record: dict[str, Any], number: str) -> None:
    out = deidentified({**record, "note": [{"text": f"ref {number} on file"}]})
    assert out["note"] == [{"text": f"ref {CODEC.pseudonym('identifier', number)} on file"}]


def test_only_clinicians_names_in_a_record_s_text_become_their_labels() -> None:
    note = {"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT,
            "author": [{"reference": "#author1", "display": "Front desk"},
                       {"reference": "Practitioner/eDoc1", "display": "Ann Smith"}],
            "context": {"encounter": [{"reference": "Encounter/e1", "display": "Office Visit"}]},
            "description": "Office Visit with Ann Smith, typed at the Front desk"}
    out = deidentified(note, practitioners=True)
    label = f"Clinician {CODEC.label('Practitioner', 'eDoc1')}"
    assert out["description"] == f"Office Visit with {label}, typed at the Front desk"


# What a resource keeps of itself ---------------------------------------------------------------------------------

def test_meta_keeps_only_profiles_tags_and_security_labels() -> None:
    meta = {"versionId": "3", "lastUpdated": "2025-01-10T09:00:00Z", "source": "#Lopez-import",
            "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab"],
            "tag": [{"code": "lab"}], "security": [{"code": "R"}]}
    out = deidentified({"resourceType": "Observation", "id": "o1", "subject": SUBJECT, "meta": meta})
    assert out["meta"] == {k: meta[k] for k in ("profile", "tag", "security")}
    assert "meta" not in deidentified({"resourceType": "Observation", "id": "o1", "subject": SUBJECT,
                                       "meta": {"versionId": "3"}})


def test_a_value_that_merely_contains_div_is_no_narrative() -> None:
    out = deidentified({"resourceType": "Observation", "id": "o1", "subject": SUBJECT,
                        "valueString": "diverticulosis, individual plan"})
    assert out["valueString"] == "diverticulosis, individual plan"


def test_a_contained_resource_is_de_identified_as_its_container_s_patient() -> None:
    request = {"resourceType": "MedicationRequest", "id": "m1", "subject": SUBJECT,
               "contained": [{"resourceType": "Observation", "id": "o1", "effectiveDateTime": "2025-01-10T09:00:00Z",
                              "note": [{"text": "Camila weighed at home"}]}]}
    contained = deidentified(request)["contained"][0]
    assert contained["note"] == [{"text": "[name] weighed at home"}]
    assert contained["effectiveDateTime"] != "2025-01-10T09:00:00Z"


def test_a_person_keeps_an_address_s_kind_but_not_an_address_of_kind_alone() -> None:
    person = {"resourceType": "RelatedPerson", "id": "rp1", "patient": SUBJECT,
              "address": [{"use": "home", "type": "postal", "state": "TX"}, {"use": "work", "type": "physical"}]}
    assert deidentified(person)["address"] == [{"use": "home", "type": "postal", "state": "TX"}]


def test_the_free_text_of_an_extension_a_person_keeps_is_scrubbed() -> None:
    race = {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
            "extension": [{"url": "text", "valueString": "as told by Camila: White"}]}
    out = deidentified({**PATIENT, "extension": [race]})
    assert out["extension"][0] == {"url": race["url"],
                                   "extension": [{"url": "text", "valueString": "as told by [name]: White"}]}


def test_a_clinician_asked_to_be_hidden_keeps_what_follows_the_contacts() -> None:
    practitioner = {"resourceType": "Practitioner", "id": "eDoc1", "telecom": [{"value": "608-555-0100"}],
                    "gender": "female", "qualification": [{"code": {"text": "MD"}}]}
    out = deidentified(practitioner, practitioners=True)
    assert out == {"resourceType": "Practitioner", "id": CODEC.pseudonym("Practitioner", "eDoc1"), "gender": "female",
                   "qualification": [{"code": {"text": "MD"}}]}


def test_a_directory_id_is_its_own_real_id() -> None:
    deid = deidentifier()
    assert deid.real_id("Location", "l1") == "l1" and deid.real_id("Observation", "l1") is None


# Codings, ages and attachments -----------------------------------------------------------------------------------

ADDISON = Identity.of({**PATIENT, "name": [{"family": "Addison", "given": ["Camila"]}]})


def test_a_terminology_s_display_stays_even_when_the_patient_bears_a_word_of_it() -> None:
    disease = {"system": "http://snomed.info/sct", "code": "363732003", "display": "Addison's disease"}
    local = {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.698084.30", "code": "1", "display": "Addison family"}
    condition = {"resourceType": "Condition", "id": "c1", "subject": SUBJECT,
                 "code": {"coding": [disease]}, "category": [{"coding": [local]}]}
    out = deidentifier().resource(condition, {PID: ADDISON})
    assert out["code"] == {"coding": [disease]}, "a terminology's text, not the patient's"
    assert out["category"] == [{"coding": [{**local, "display": "[name] family"}]}], "a local code is the site's text"


@pytest.mark.parametrize("age", [
    pytest.param({"value": 95, "code": "a"}, id="a-code-alone"),
    pytest.param({"value": 95, "unit": "yr"}, id="a-unit-alone"),
])
def test_an_age_over_89_named_in_years_by_unit_or_code_becomes_90_or_more(age: dict[str, Any]) -> None:
    out = deidentified({"resourceType": "FamilyMemberHistory", "id": "f1", "patient": SUBJECT, "deceasedAge": age})
    assert out["deceasedAge"] == {**age, "value": 90, "comparator": ">="}


def test_content_withheld_leaves_no_size_and_a_creation_month_moves() -> None:
    note = {"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT, "content": [{"attachment": {
        "contentType": "application/pdf", "data": "JVBERi0xLjQ=", "size": 1024, "creation": "2025-01"}}]}
    attachment = deidentified(note)["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf" and "size" not in attachment and "data" not in attachment
    assert attachment["creation"] != "2025-01"


def test_an_attachment_with_a_title_but_no_type_still_hides_its_binary() -> None:
    note = {"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT,
            "content": [{"attachment": {"url": "Binary/eBin7", "title": "Scan"}}]}
    attachment = deidentified(note)["content"][0]["attachment"]
    assert attachment["title"] == "Scan"
    assert CODEC.reveal("Binary", attachment["url"].removeprefix("Binary/")) == ["eBin7", PID]


def test_inline_data_that_is_no_base64_is_withheld() -> None:
    note = {"resourceType": "DocumentReference", "id": "d1", "subject": SUBJECT, "content": [{"attachment": {
        "contentType": "text/plain", "data": base64.b64encode(b"Camila seen").decode() + "!!"}}]}
    assert deidentified(note)["content"] == [{"attachment": {"contentType": "text/plain"}}]


def test_an_attachment_of_the_directory_stays_as_written() -> None:
    photo = {"contentType": "image/jpeg", "data": "/9j/4AAQSkZJRg==", "title": "Ann Smith",
             "extension": [{"url": "http://example.org/photo-kind", "valueString": "portrait"}]}
    practitioner = {"resourceType": "Practitioner", "id": "eDoc1", "photo": [photo]}
    assert deidentified(practitioner) == practitioner


@pytest.mark.parametrize(("content", "content_type"), [
    pytest.param(b"<p>Camila&nbsp;seen</p>", "text/html", id="html"),
    pytest.param(b"{\\rtf1\\ansi Camila seen}", "text/rtf", id="rtf"),
])
def test_html_and_rtf_are_read_as_plain_text(content: bytes, content_type: str) -> None:
    assert readable_text(content, content_type) == "Camila seen"


UCUM = "http://unitsofmeasure.org"


@pytest.mark.parametrize(("age", "expected"), [
    ({"value": 1100, "unit": "months", "system": UCUM, "code": "mo"},
     {"value": 90, "comparator": ">=", "unit": "years", "system": UCUM, "code": "a"}),
    ({"value": 4800, "unit": "wk"}, {"value": 90, "comparator": ">=", "unit": "years", "code": "a"}),
    ({"value": 33000, "unit": "days", "system": UCUM, "code": "d"},
     {"value": 90, "comparator": ">=", "unit": "years", "system": UCUM, "code": "a"}),
    ({"value": 1068, "unit": "months", "system": UCUM, "code": "mo"},
     {"value": 1068, "unit": "months", "system": UCUM, "code": "mo"}),
    # just over and just under 89 years: a week is 365.25 / 7 of a year, a day 365.25
    ({"value": 4650, "unit": "weeks"}, {"value": 90, "comparator": ">=", "unit": "years", "code": "a"}),  # 89.1 y
    ({"value": 4600, "unit": "weeks"}, {"value": 4600, "unit": "weeks"}),  # 88.2 years
    ({"value": 32560, "unit": "d"}, {"value": 90, "comparator": ">=", "unit": "years", "code": "a"}),  # 89.1 y
    ({"value": 32500, "unit": "d"}, {"value": 32500, "unit": "d"}),  # 88.98 years
])
def test_an_age_over_89_years_written_in_months_weeks_or_days_becomes_90_years_or_more(
        age: dict[str, Any], expected: dict[str, Any]) -> None:
    out = deidentified({"resourceType": "FamilyMemberHistory", "id": "f1", "patient": SUBJECT, "deceasedAge": age})
    assert out["deceasedAge"] == expected


def test_an_age_range_over_89_becomes_90_or_more_at_each_end_over_it() -> None:
    """FamilyMemberHistory.ageRange, a condition's onsetRange: two ages, each a Safe Harbor age."""
    low, high = {"value": 60, "unit": "years", "system": UCUM, "code": "a"}, {"value": 95, "system": UCUM, "code": "a"}
    history = {"resourceType": "FamilyMemberHistory", "id": "f1", "patient": SUBJECT,
               "ageRange": {"low": {**high, "value": 92}, "high": high},
               "condition": [{"code": {"text": "stroke"}, "onsetRange": {"low": low, "high": high}}]}
    out = deidentified(history)
    over = {"value": 90, "comparator": ">=", "system": UCUM, "code": "a"}
    assert out["ageRange"] == {"low": over, "high": over}
    assert out["condition"][0]["onsetRange"] == {"low": low, "high": over}


def test_the_age_range_of_a_reference_range_becomes_90_or_more_at_each_end_over_89() -> None:
    """Observation.referenceRange.age is a Range named `age`, not `...Range`."""
    adult = {"low": {"value": 18, "unit": "years", "system": UCUM, "code": "a"},
             "high": {"value": 95, "unit": "years", "system": UCUM, "code": "a"}}
    lab = {"resourceType": "Observation", "id": "o1", "status": "final", "subject": SUBJECT,
           "code": {"text": "Creatinine"}, "referenceRange": [{"low": {"value": 0.6, "unit": "mg/dL"}, "age": adult}]}
    out = deidentified(lab)["referenceRange"][0]
    assert out["age"] == {"low": adult["low"], "high": {"value": 90, "comparator": ">=", "unit": "years",
                                                         "system": UCUM, "code": "a"}}
    assert out["low"] == {"value": 0.6, "unit": "mg/dL"}


def test_a_range_of_doses_or_values_is_no_age_and_is_kept_as_written() -> None:
    doses = {"low": {"value": 100, "unit": "mg", "system": UCUM, "code": "mg"},
             "high": {"value": 200, "unit": "mg", "system": UCUM, "code": "mg"}}
    order = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
             "subject": SUBJECT, "medicationCodeableConcept": {"text": "ibuprofen"},
             "dosageInstruction": [{"doseAndRate": [{"doseRange": doses}]}]}
    assert deidentified(order)["dosageInstruction"][0]["doseAndRate"][0]["doseRange"] == doses
    value = {"resourceType": "Observation", "id": "o2", "status": "final", "subject": SUBJECT,
             "code": {"text": "Pain score"}, "valueRange": {"low": {"value": 95}, "high": {"value": 120}}}
    assert deidentified(value)["valueRange"] == {"low": {"value": 95}, "high": {"value": 120}}
    flagged = {**doses, "id": "r1", "extension": [{"url": "http://example.org/fhir/prn", "valueBoolean": True}]}
    order["dosageInstruction"][0]["doseAndRate"][0]["doseRange"] = flagged
    assert deidentified(order)["dosageInstruction"][0]["doseAndRate"][0]["doseRange"]["high"] == doses["high"], \
        "a Range's id and extensions are no ends of it"
