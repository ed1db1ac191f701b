"""The URL rule that keeps the bearer token on the configured FHIR server, and the paging cursors built on it."""

from __future__ import annotations

import httpx
import pytest

from epic_mcp.auth.urls import has_path_tricks, is_within_base
from epic_mcp.fhir.paging import CursorCodec, InvalidCursor, Position, cursor_key

EPIC = "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4"
MEXICO = "https://fhir.example.mx/api/FHIR/MX"  # a base whose path ends in a letter that trailing-slash code trips on


@pytest.mark.parametrize("base", [EPIC, EPIC + "/", MEXICO, MEXICO + "/", "https://fhir.example.org:8443/r4",
                                  "http://127.0.0.1:8790/fhir"])
def test_the_base_itself_and_everything_under_it_is_within_it(base: str) -> None:
    root = httpx.URL(base)
    plain = base.rstrip("/")
    for url in (plain, plain + "/", plain + "/Patient/e1", plain + "/Observation?patient=e1&code=8480-6",
                plain + "/Binary/e.B1", plain + "/Patient?name=%2e%2e&x=a?b"):
        assert is_within_base(httpx.URL(url), root), url


@pytest.mark.parametrize("url", [
    "https://evil.example.org/interconnect-fhir-oauth/api/FHIR/R4/Patient",  # another host
    "http://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Patient",  # plain http
    "http://fhir.epic.com:443/interconnect-fhir-oauth/api/FHIR/R4/Patient",  # plain http on the https port
    "https://fhir.epic.com:8443/interconnect-fhir-oauth/api/FHIR/R4/Patient",  # another port
    "https://user@fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Patient",  # userinfo
    "https://fhir.epic.com/interconnect-fhir-oauth/oauth2/token",  # beside the base
    "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4x/Patient",  # a sibling whose name starts alike
    "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR",  # above the base
    "https://fhir.epic.com/",
    "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/%2e%2e/%2e%2e/oauth2/token",
    "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Patient%2F..%2Fx",
])
def test_anything_else_is_outside_the_base(url: str) -> None:
    assert not is_within_base(httpx.URL(url), httpx.URL(EPIC + "/"))


def test_ports_compare_as_the_server_sees_them() -> None:
    assert is_within_base(httpx.URL("https://fhir.epic.com:443/x/y"), httpx.URL("https://fhir.epic.com/x"))
    assert not is_within_base(httpx.URL("https://h:8443/x/y"), httpx.URL("https://h:9443/x"))
    assert not is_within_base(httpx.URL("https://h:8443/x/y"), httpx.URL("https://h/x"))


def test_path_tricks_are_found_in_the_path_only() -> None:
    assert has_path_tricks(httpx.URL(EPIC + "/%2E%2e/x"))
    assert has_path_tricks(httpx.URL(EPIC + "/Patient%5cx"))
    assert not has_path_tricks(httpx.URL(EPIC + "/Patient?name=%2e%2e"))
    assert not has_path_tricks(httpx.URL(EPIC + "/Patient?x=1?name=%2e%2e"))
    assert not has_path_tricks(httpx.URL(EPIC + "/Patient/e.1.2"))


ENCODED_STRUCTURE = ["%2F", "%2f", "%2E", "%2e", "%5C", "%5c"]


@pytest.mark.parametrize("encoded", ENCODED_STRUCTURE)
@pytest.mark.parametrize("path", ["/Patient{e}..{e}x", "/{e}{e}/{e}{e}/oauth2/token", "/Binary/eB{e}1",
                                  "/Observation{e}", "/{e}"])
def test_an_encoded_slash_dot_or_backslash_in_either_case_keeps_the_token_home(encoded: str, path: str) -> None:
    url = httpx.URL(EPIC + path.format(e=encoded))
    assert has_path_tricks(url), url
    assert not is_within_base(url, httpx.URL(EPIC + "/")), url


@pytest.mark.parametrize("encoded", ENCODED_STRUCTURE)
def test_encoded_structure_in_the_query_is_only_a_value(encoded: str) -> None:
    url = httpx.URL(f"{EPIC}/Patient?name=a{encoded}b&_id=x{encoded}")
    assert not has_path_tricks(url) and is_within_base(url, httpx.URL(EPIC))


# Cursors ----------------------------------------------------------------------------------------------------

def position(url: str, **fields) -> Position:
    return Position("Observation", httpx.URL(url), fields.pop("patient_id", "e1"), fields.pop("limit", 20), **fields)


def test_a_cursor_carries_the_whole_position_back() -> None:
    codec = CursorCodec(EPIC)
    sent = position(EPIC + "/Observation?patient=e1&_count=20&page=2", skip=20, seen=40, limit=20)
    assert codec.decode(codec.encode(sent)) == sent
    anonymous = position(EPIC + "/Patient?family=Lopez", patient_id=None, limit=5)
    assert codec.decode(codec.encode(anonymous)) == anonymous


def test_a_cursor_holds_no_readable_url_or_patient() -> None:
    cursor = CursorCodec(EPIC).encode(position(EPIC + "/Observation?patient=eSecret42&page=2", patient_id="eSecret42"))
    assert "eSecret42" not in cursor and "Observation" not in cursor and "=" not in cursor


def test_a_next_link_outside_the_base_never_becomes_a_cursor() -> None:
    with pytest.raises(InvalidCursor) as refused:
        CursorCodec(EPIC).encode(position("https://evil.example.org/interconnect-fhir-oauth/api/FHIR/R4/Observation"))
    assert str(refused.value) == "next link is outside the FHIR base"


# A cursor that one version of epic-mcp sealed with EPIC_MCP_CURSOR_KEY, with a fixed nonce: every replica, of
# this version or the next, must open it (a rolling upgrade keeps the cursors a model holds), and this version
# must seal the same position to the same characters (no longer than its payload needs).
SEALED = ("AAECAwQFBgcICQoLGAKTef1RnOvPYm_n3Jw3HPMww5P2uSSCJ__BiNjiHycq76GhE69w4Uul1TAlUom8qvBLBzUDFeiwHC1KbJal"
          "kO2zhPinvkvt1is8dzbCCfeq6_YLcbWjcDL5erdH2yOlrAQAVXWrcrHOsCGalztVGEvOfOXp06lJvyo1YHXx99-UgKORR1ZUy3ylp23pznBDtHjaI3-X")


def sealed_position() -> Position:
    return position(EPIC + "/Observation?patient=e1&_count=20&page=2", seen=3880)


def test_a_cursor_from_another_replica_with_the_shared_key_opens_to_the_same_position() -> None:
    assert CursorCodec(EPIC, cursor_key("replicas-share-this-secret")).decode(SEALED) == sealed_position()
    assert CursorCodec(EPIC + "/", cursor_key("replicas-share-this-secret")).decode(SEALED) == sealed_position()


def test_a_cursor_is_sealed_the_same_way_by_every_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import epic_mcp.fhir.paging

    monkeypatch.setattr(epic_mcp.fhir.paging.secrets, "token_bytes", lambda n: bytes(range(n)))
    assert CursorCodec(EPIC, cursor_key("replicas-share-this-secret")).encode(sealed_position()) == SEALED


# Each alteration changes every cursor, whatever its random nonce: the first character is swapped for another one
# (a cursor already starting with "A" once made "A" + rest the same cursor, and CI red on one run in 64).
@pytest.mark.parametrize("mangle", [lambda c: c[:-2], lambda c: c[:10], lambda c: ("B" if c[0] == "A" else "A") + c[1:],
                                    lambda c: c + "AA", lambda c: "", lambda c: "!!!", lambda c: c.swapcase()])
def test_an_altered_or_truncated_cursor_is_refused_with_the_fix(mangle) -> None:
    codec = CursorCodec(EPIC)
    cursor = codec.encode(position(EPIC + "/Observation?page=2"))
    altered = mangle(cursor)
    assert altered != cursor
    with pytest.raises(InvalidCursor) as refused:
        codec.decode(altered)
    assert str(refused.value) == ("this cursor is not valid here (altered, truncated, or from an earlier server run); "
                                  "run the search again")


def test_cursors_survive_only_where_the_key_is_shared() -> None:
    shared = cursor_key("replicas-share-this-secret")
    assert shared == cursor_key("replicas-share-this-secret") and len(shared) == 32
    assert cursor_key("another secret") != shared and cursor_key(None) is None
    cursor = CursorCodec(EPIC, shared).encode(position(EPIC + "/Observation?page=2"))
    assert CursorCodec(EPIC, shared).decode(cursor).url == httpx.URL(EPIC + "/Observation?page=2")
    for other in (CursorCodec(EPIC), CursorCodec(EPIC, cursor_key("another secret"))):
        with pytest.raises(InvalidCursor):
            other.decode(cursor)


def test_a_cursor_sealed_for_one_server_leads_only_to_the_configured_base() -> None:
    key = cursor_key("shared")
    elsewhere = "https://other.example.org/fhir/r4"
    cursor = CursorCodec(elsewhere, key).encode(position(elsewhere + "/Observation?page=2"))
    with pytest.raises(InvalidCursor) as refused:
        CursorCodec(EPIC, key).decode(cursor)
    assert str(refused.value) == "this cursor does not lead to the configured FHIR server; run the search again"
    decoded = CursorCodec("https://fhir.epic.com/interconnect-fhir-oauth", key).decode(
        CursorCodec("https://fhir.epic.com/interconnect-fhir-oauth/", key).encode(
            position("https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Observation?page=2")))
    assert str(decoded.url) == "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/Observation?page=2"
