"""Free text in the minimum PHI mode, pattern by pattern: what a note may hold of anyone (phone numbers in every
format, SSNs, e-mail, URLs, IP addresses, labelled numbers, long numbers, street addresses, ages over 89), what of
the patient's own record, and what must stay because it is clinical (doses, blood pressures, lab values)."""

from __future__ import annotations

import pytest

from epic_mcp.phi.scrub import Identity, Scrubber

# A patient whose record holds a phone number; the notes below write it in other ways.
PATIENT = {"resourceType": "Patient", "id": "eP1", "name": [{"family": "Lopez", "given": ["Camila"]}],
           "telecom": [{"system": "phone", "value": "+1 469-888-8888"},
                       {"system": "phone", "value": "090-7875-7297"}]}


def scrubbed(text: str) -> str:
    """The text as the minimum mode shows it for a patient the scrubber knows nothing of (patterns only)."""
    return Scrubber(None, 0).text(text)


@pytest.mark.parametrize("phone", [
    "469-555-0134", "469.555.0134", "(469) 555-0134", "(469)555-0134", "469 555 0134", "469 555-0134",
    "+1 469-555-0134", "+1.469.555.0134", "1-469-555-0134", "1.469.555.0134", "+1 (469) 555-0134", "+14695550134",
    "+44 20 7946 0958", "+44.20.7946.0958", "+44-20-7946-0958", "+81 90-7875-7297", "+49 30 1234567",
    "+33 1 42 68 53 00", "+33.1.42.68.53.00", "+353 (1) 234 5678", "03-1234-5678", "090-7875-7297", "0120-123-456",
])
def test_a_phone_number_in_a_note_is_removed_in_every_format(phone: str) -> None:
    assert scrubbed(f"Daughter asks to be called at {phone} after 5pm.") == \
        "Daughter asks to be called at [phone] after 5pm."


@pytest.mark.parametrize("written", ["469.888.8888", "(469) 888-8888", "469 888 8888", "4698888888",
                                     "+1 (469) 888 8888", "1-469-888-8888", "+81 90 7875 7297", "09078757297"])
def test_the_patients_own_number_is_found_however_the_note_writes_it(written: str) -> None:
    out = Scrubber(Identity.of(PATIENT), 0).text(f"Reached patient on {written} today.")
    assert out == "Reached patient on [phone] today."


@pytest.mark.parametrize(("text", "expected"), [
    ("SSN 123-45-6789 on file", "SSN [ssn] on file"),
    ("mail a.b+notes@mail.example.org now", "mail [email] now"),
    ("portal https://portal.example.org/x?id=1 and www.example.org/y", "portal [url] and [url]"),
    ("FTP://files.example.org/a.pdf", "[url]"),
    ("from host 10.1.2.3 at", "from host [ip] at"),
    ("MRN 203713.", "MRN [number]."),
    ("MR# A1234567", "MR# [number]"),
    ("MR No. 5566778", "MR No. [number]"),
    ("CSN: 88812345", "CSN: [number]"),
    ("acct. 99887766", "acct. [number]"),
    ("Account number 4455-6677", "Account number [number]"),
    ("accession #AB-1234", "accession #[number]"),
    ("encounter id 1234X", "encounter id [number]"),
    ("specimen 12-ABC", "specimen [number]"),
    ("Medical record number: 0012345", "Medical record number: [number]"),
    ("patient id 1234", "patient id [number]"),
    ("Member ID ABC-12345", "Member ID [number]"),
    ("subscriber no. 7788", "subscriber no. [number]"),
    ("insurance member id XQ-4411", "insurance member id [number]"),
    ("policy number XZ-99812", "policy number [number]"),
    ("visit # 4455667", "visit # [number]"),
    ("order no 8812", "order no [number]"),
    ("driver's license number D1234567", "driver's license number [number]"),
    ("licence no. 22-3344", "licence no. [number]"),
    ("certificate # 5566", "certificate # [number]"),
    ("passport no P1234567", "passport no [number]"),
    ("serial number SN-4455", "serial number [number]"),
    ("患者ID A1234", "患者ID [number]"),
    ("被保険者番号 12345678", "被保険者番号 [number]"),
    ("ref 1234567", "ref [number]"),
    ("lives at 12 Oak Street, and 1600 Pennsylvania Avenue", "lives at [address], and [address]"),
    ("moved to 4 Elm Ct. last May", "moved to [address] last May"),
])
def test_identifiers_of_anyone_are_removed_by_pattern(text: str, expected: str) -> None:
    assert scrubbed(text) == expected


@pytest.mark.parametrize("text", [
    "BP 120/80, HR 72, SpO2 98%, temp 37.2, 0.5 mg at 08.30",
    "order 1000 units of heparin; 12345.67 mL total; 1,234,567 cells",
    "account 2026-01-05 reviewed",  # a date after a label is a date, not an account number
    "glucose 123456 (a six-digit count)",
    "version 1.2 of the form; ratio 3.4.5",
    "seen in 2019 and 2020",
    "a 12 y/o boy, 88 years old grandmother",
    "an email-like text without a domain: a@b",
])
def test_clinical_text_without_identifiers_stays_as_written(text: str) -> None:
    assert scrubbed(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("A 92-year-old woman", "A 90+-year-old woman"),
    ("95 years old", "90+ years old"),
    ("a 95 y/o woman", "a 90+ y/o woman"),
    ("a 101yo man", "a 90+yo man"),
    ("91 yrs old", "90+ yrs old"),
    ("aged 95", "aged 90+"),
    ("Age: 93", "Age: 90+"),
    ("93歳", "90+歳"),
    ("aged 89, 89 y/o, 89-year-old", "aged 89, 89 y/o, 89-year-old"),
])
def test_ages_over_89_are_shown_as_90_plus(text: str, expected: str) -> None:
    assert scrubbed(text) == expected


def test_names_next_to_each_other_become_one_mark() -> None:
    out = Scrubber(Identity.of(PATIENT), 0).text("Camila Lopez, Lopez Camila and LOPEZ, CAMILA came")
    assert out == "[name] and [name] came"


def test_an_identity_holds_what_names_the_patient_and_their_contacts_and_nothing_clinical() -> None:
    """What the scrubber looks for in free text: every form of the patient's and each contact's names (a one-letter
    part only inside the full name), phone numbers and e-mail (by system, or by an @ in the value), address lines,
    cities, districts and postcodes of three characters or more, identifiers of four or more, the birth date."""
    patient = {
        "resourceType": "Patient", "id": "eP1", "birthDate": "1987-09-12",
        "name": [{"family": "López", "given": ["Camila", "M"]}, "not a name", {"text": " Cami  López "},
                 {"given": ["Jo"], "family": "Xu"}, {"family": "Xu"}, {"given": ["2024"], "family": 7}],
        "identifier": [{"value": " E123 "}, {"value": "123"}, {"system": "urn:x"}, "E9999"],
        "telecom": [{"system": "phone", "value": "+1 469-888-8888"}, {"system": "email", "value": "cml@example.org"},
                    {"system": "email", "value": "cml at example dot org"},
                    {"system": "other", "value": "cml@example.net"}, {"system": "phone"}, "555-0000"],
        "address": ["Dallas", {"line": ["3268 West Johnson St.", "  ", 5], "city": "Garland", "district": "Ely",
                               "postalCode": "75040", "text": "Apt 4B"}, {"line": ["12 Elm Rd"], "city": "Mesquite"}],
        "contact": [{"name": {"family": "Lopez", "given": ["Ana"]}, "telecom": [{"value": "972-555-0100"}],
                     "address": {"city": "Plano", "district": "Oz"}}, "not a contact"],
    }
    identity = Identity.of(patient)
    assert identity.patient_id == "eP1" and identity.birth_date.isoformat() == "1987-09-12"
    assert identity.names == {
        "Camila M López", "Camila López", "López Camila", "López, Camila", "LópezCamila", "Camila", "López",
        "Cami  López", "Cami López", "Cami", "Jo Xu", "Xu Jo", "Xu, Jo", "XuJo", "Jo", "Xu",
        "Ana Lopez", "Lopez Ana", "Lopez, Ana", "LopezAna", "Ana", "Lopez"}
    assert identity.identifiers == {"E123"}
    assert identity.phones == {"+1 469-888-8888", "972-555-0100"}
    assert identity.emails == {"cml@example.org", "cml at example dot org", "cml@example.net"}
    assert identity.places == {"3268 West Johnson St.", "Garland", "Ely", "75040", "Apt 4B", "12 Elm Rd", "Mesquite",
                               "Plano"}


@pytest.mark.parametrize("born", ["1987", "1987-09", "1987-13-40", 19870912, None])
def test_a_birth_date_without_a_day_or_not_a_date_is_no_birth_date_of_the_identity(born: object) -> None:
    assert Identity.of({"resourceType": "Patient", "id": "eP1", "birthDate": born}).birth_date is None


@pytest.mark.parametrize(("name", "note"), [
    ("山田", "山田さんは昨日から咳あり"), ("やまだ", "やまださんは昨日から咳あり"),
    ("ヤマダ", "ヤマダサンは昨日から咳あり"),
    ("김민준", "김민준님은 어제부터 기침"),
])
def test_a_name_in_a_script_without_spaces_is_found_inside_the_words_around_it(name: str, note: str) -> None:
    """Japanese (kanji, hiragana, katakana) and Korean write no space after a name: it is found as a substring."""
    patient = {"resourceType": "Patient", "id": "eP2", "name": [{"text": name}]}
    out = Scrubber(Identity.of(patient), 0).text(note)
    assert name not in out and out.startswith("[name]"), out


def patient_named(family: str) -> Identity:
    return Identity.of({"resourceType": "Patient", "id": "eP3", "name": [{"family": family, "given": ["Ana"]}]})


@pytest.mark.parametrize(("family", "note"), [
    ("Alvarez", "Mrs Álvarez came"), ("Jose", "Mr José came"), ("Maria", "Mrs María came"),
    ("Nunez", "Mr Núñez came"), ("Pena", "Mr Peña came"), ("Goncalves", "Mr Gonçalves came"),
    ("Maly", "Mr Malý came"), ("Kosir", "Mr Košir came"), ("Kozak", "Mr Kožak came"), ("Lopez", "Mrs López came"),
])
def test_a_name_the_record_writes_without_accents_is_found_with_them(family: str, note: str) -> None:
    assert Scrubber(patient_named(family), 0).text(note) == note.replace(note.split()[1], "[name]")


@pytest.mark.parametrize(("family", "note"), [
    ("Ha", "Hx of asthma"), ("He", "Hx of asthma"), ("Di", "Dx: asthma"), ("Do", "Dx: asthma"), ("Du", "Dx: asthma"),
    ("Fan", "Fax results to PCP"), ("Fay", "Fax results to PCP"), ("Mac", "max dose 4 g/day"),
    ("Mas", "max dose 4 g/day"), ("Cruz", "The crux is adherence"),
])
def test_a_word_one_letter_away_from_a_short_name_stays(family: str, note: str) -> None:
    """The accent-insensitive match of a name admits accented letters, nothing else (Fan is not fax)."""
    assert Scrubber(patient_named(family), 0).text(note) == note


@pytest.mark.parametrize(("note", "expected"), [
    ("Rosa  Lopez came", "[name] came"),
    ("Rosa\nLopez came", "[name] came"),
    ("LOPEZ,ROSA came", "[name] came"),
    ("Visitors: Rosa, Camila, Ana", "Visitors: [name]"),
])
def test_names_separated_by_spaces_or_commas_become_one_mark(note: str, expected: str) -> None:
    """Parts of names that are no full name of the record still make one mark: how many there were is not shown."""
    patient = {"resourceType": "Patient", "id": "eP1", "name": [{"family": "Lopez", "given": ["Camila", "Rosa"]}],
               "contact": [{"name": {"family": "Lopez", "given": ["Ana"]}}]}
    assert Scrubber(Identity.of(patient), 0).text(note) == expected
