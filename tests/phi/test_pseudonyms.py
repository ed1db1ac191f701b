"""Pseudonyms, date offsets and labels from the deployment secret: the same on every replica and after every
upgrade (a model's conversation holds them), reversible only with the secret, and refused when altered."""

from __future__ import annotations

import pytest

from epic_mcp.phi.pseudonyms import PseudonymCodec, reveal_any

from .test_phi import CODEC, PID, SECRET

# Made by this version with the test secret: any later version must make and read back the same.
PATIENT_PSEUDONYM = "21rsBQig3uDJKK6TZjV5jfdZf97VwGnpbD4DVi5sDIADbeZ4"
MRN_PSEUDONYM = "EABGAaeBN2Ph8Yta1ZUl0U8lsRfkmK"
BINARY_PSEUDONYM = "d1W3YxWx2ByGEvlvxRfanfHjQ5SjG3i0lIWFKAbgelXFTPYvCx1j0N"


def test_pseudonyms_labels_and_offsets_are_the_same_in_every_version() -> None:
    codec = PseudonymCodec(SECRET)
    assert codec.pseudonym("Patient", PID) == PATIENT_PSEUDONYM
    assert codec.pseudonym("identifier", "203713") == MRN_PSEUDONYM
    assert codec.pseudonym("Binary", "eBin7", PID) == BINARY_PSEUDONYM
    assert codec.reveal("Binary", BINARY_PSEUDONYM) == ["eBin7", PID]
    assert codec.label("Practitioner", "eDoc1") == "7ENNZL"
    assert (codec.offset_days(PID), codec.offset_days("x")) == (-311, 209)


def test_offsets_reach_both_ends_of_30_days_to_a_year_either_way() -> None:
    offsets = {CODEC.offset_days(f"patient-{n}") for n in range(2000)}
    assert {-365, -30, 30, 365} <= offsets
    assert all(30 <= abs(offset) <= 365 for offset in offsets)


@pytest.mark.parametrize("value", ["a", "e1", "-.", "x" * 255, "x" * 256, "CMS-MEDICARE:6440", "伊藤", "", "0" * 40,
                                   "O.kP2.jn3CPARNu6.n.drnNncHOgDtYU02U6td4wmbEujWrdMRBadAKLU6.bP1KN"])
def test_any_value_comes_back_as_it_was_given(value: str) -> None:
    pseudonym = CODEC.pseudonym("identifier", value)
    assert pseudonym.isascii() and pseudonym.isalnum() and (not value or value not in pseudonym)
    assert CODEC.real("identifier", pseudonym) == value


def test_a_fhir_id_packs_into_a_shorter_pseudonym_than_other_text() -> None:
    epic_id = "erXuFYUfucBZaryVksYEcMg3"
    assert len(CODEC.pseudonym("Patient", epic_id)) < len(CODEC.pseudonym("Patient", epic_id + "!"))
    assert len(CODEC.pseudonym("Patient", epic_id)) <= 48


@pytest.mark.parametrize("mangle", [
    lambda p: p[:-1] + ("A" if p[-1] != "A" else "B"),  # one character changed
    lambda p: p[:10],  # cut short
    lambda p: p + "0",
    lambda p: p.replace(p[5], "_"),  # not base62
    lambda p: p[:6] + "é" + p[7:],
    lambda p: "",
])
def test_an_altered_pseudonym_is_no_pseudonym(mangle) -> None:
    assert CODEC.reveal("Patient", mangle(PATIENT_PSEUDONYM)) is None
    assert CODEC.real("Patient", mangle(PATIENT_PSEUDONYM)) is None


def test_a_pseudonym_is_bound_to_its_kind_and_to_its_deployment() -> None:
    assert CODEC.real("Observation", PATIENT_PSEUDONYM) is None
    assert PseudonymCodec("another-deployment-secret-0123456789abcd").real("Patient", PATIENT_PSEUDONYM) is None
    assert CODEC.real("Binary", BINARY_PSEUDONYM) is None, "two values: no single real id"
    assert reveal_any(CODEC, MRN_PSEUDONYM, ["Patient", "identifier"]) == ("identifier", ["203713"])
    assert reveal_any(CODEC, "made-up", ["Patient", "identifier"]) is None


def test_many_pseudonyms_are_made_alike_after_the_kept_ones_are_let_go() -> None:
    codec = PseudonymCodec(SECRET)
    first = [codec.pseudonym("Observation", f"o{n}") for n in range(9000)]
    assert codec.pseudonym("Patient", PID) == PATIENT_PSEUDONYM
    assert [PseudonymCodec(SECRET).pseudonym("Observation", f"o{n}") for n in (0, 4500, 8999)] == \
        [first[0], first[4500], first[8999]]


def test_labels_are_six_capitals_or_digits_and_differ_by_kind() -> None:
    label = CODEC.label("Practitioner", "eDoc1")
    assert len(label) == 6 and label == label.upper() and label.isalnum()
    assert label != CODEC.label("PractitionerRole", "eDoc1") != CODEC.label("Practitioner", "eDoc2")
