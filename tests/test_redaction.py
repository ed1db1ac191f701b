"""The redaction rule and each place it is applied: a secret a server echoes never leaves the process."""

from __future__ import annotations

import logging
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from epic_mcp.doctor import Doctor
from epic_mcp.errors import FhirError, FhirErrorKind, TokenError
from epic_mcp.logs import protect_logs
from epic_mcp.redaction import REDACTED, REMEMBERED_SECRETS, Redactor, redact, remember_secret

JWT = "eyJhbGciOiJSUzM4NCIsImtpZCI6IngifQ.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(("text", "expected"), [
    (f"assertion {JWT} rejected", f"assertion {REDACTED} rejected"),
    (f"cut short {JWT[:60]}", f"cut short {REDACTED}"),
    ("Authorization: Bearer abcdefgh12345678", f"Authorization: {REDACTED}"),
    ("authorization: bearer abcdefgh12345678==", f"authorization: {REDACTED}"),
    ("the word bearer alone, and eyJ without dots", "the word bearer alone, and eyJ without dots"),
])
def test_secret_shapes_are_redacted_and_ordinary_text_is_not(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


# Bearer credentials as a server or proxy echoes them, in each encoding opaque tokens come in; these tokens are none
# this process holds (another app's, a proxy's), so only the shape of a Bearer credential catches them.
ECHOED_TOKENS = {
    "standard base64, with + and / and padding": "ab+/Cd3fGh+iJk/LmN0pQ+rSt/UvWx==",
    "base64url, with - and _": "dGhpcy1pcy1h_dG9rZW4tX3dpdGgt-ZGFzaGVz_LXVuZGVy",
    "hex": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "with . and ~": "v1.tok~en.AbCdEfGh~12345678",
}


@pytest.mark.parametrize("token", ECHOED_TOKENS.values(), ids=ECHOED_TOKENS)
@pytest.mark.parametrize(("echo", "expected"), [
    ("Authorization: Bearer {token}", f"Authorization: {REDACTED}"),
    ("authorization: bearer {token}; retry", f"authorization: {REDACTED}; retry"),
    ('header "BEARER  {token}" refused', f'header "{REDACTED}" refused'),
    ("Bearer\t{token}", REDACTED),
])
def test_a_bearer_token_in_every_encoding_is_redacted_whole(token: str, echo: str, expected: str) -> None:
    assert Redactor().text(echo.format(token=token)) == expected


@pytest.mark.parametrize("token", [
    "eyJh_b-c.eyJz_u-b.s_i-g",  # '_' and '-' in every part (base64url)
    "eyJabcd.efgh",  # the shortest a header and payload can be: cut short by the server after four characters
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",  # unsigned (alg none): an empty signature
])
def test_a_jwt_in_any_base64url_shape_is_redacted_whole(token: str) -> None:
    assert Redactor().text(f"sent {token} back") == f"sent {REDACTED} back"


def test_a_bearer_token_of_the_shortest_length_taken_is_redacted() -> None:
    assert Redactor().text("Bearer abcdefgh") == REDACTED
    assert Redactor().text("Bearer abcdefg") == "Bearer abcdefg", "shorter than any real token: a word, left alone"


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "ENCRYPTED ", ""])
def test_a_private_key_block_of_any_kind_is_redacted_and_the_text_after_it_kept(rsa_pem: bytes, kind: str) -> None:
    body = "\n".join(rsa_pem.decode().strip().splitlines()[1:-1])
    pem = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
    assert Redactor().text(f"key {pem} and then the rest") == f"key {REDACTED} and then the rest"


def test_a_private_key_cut_short_is_redacted_to_the_end(rsa_pem: bytes) -> None:
    cut = rsa_pem.decode()[:300]
    assert Redactor().text(f"server said: {cut}") == f"server said: {REDACTED}"


def test_a_private_key_block_is_redacted(rsa_pem: bytes) -> None:
    pem = rsa_pem.decode().strip()  # made at run time: no key is kept in the repository
    assert Redactor().text(f"key {pem} end") == f"key {REDACTED} end"


def test_remembered_secrets_are_redacted_wherever_they_appear_and_short_ones_are_ignored() -> None:
    redactor = Redactor()
    redactor.remember("opaque-token-value-1")
    redactor.remember("short")
    assert redactor.text("x opaque-token-value-1y short") == f"x {REDACTED}y short"
    assert redactor.data({"opaque-token-value-1": ["a opaque-token-value-1", 3, None]}) == {
        REDACTED: [f"a {REDACTED}", 3, None]}


def test_error_messages_are_redacted_when_made() -> None:
    assert str(FhirError(FhirErrorKind.BAD_REQUEST, f"server said {JWT}")) == f"server said {REDACTED}"
    assert str(TokenError("Bearer abcdefgh12345678 refused")) == f"{REDACTED} refused"


def test_log_records_are_redacted_whoever_writes_them(caplog: pytest.LogCaptureFixture) -> None:
    protect_logs()
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("sent %s", f"Bearer {JWT}")
        try:
            raise ValueError(f"bad {JWT}")
        except ValueError:
            logging.getLogger("some.library").exception("failed")
    assert JWT not in caplog.text and "sent [redacted]" in caplog.text and "bad [redacted]" in caplog.text


def test_doctor_output_is_redacted() -> None:
    lines: list[str] = []
    Doctor(lines.append).record("metadata", False, f"the server said {JWT}")
    assert lines == [f"FAIL  metadata: the server said {REDACTED}"]


def test_a_paging_cursor_is_not_mistaken_for_a_secret() -> None:
    import httpx

    from epic_mcp.fhir.paging import CursorCodec, Position

    codec = CursorCodec("https://epic.example.org/R4")
    cursor = codec.encode(Position("Observation", httpx.URL("https://epic.example.org/R4/Observation?page=2"), "eP1",
                                   20))
    assert Redactor().text(cursor) == cursor


def test_a_secret_of_the_minimum_length_is_remembered_and_one_shorter_is_not() -> None:
    redactor = Redactor()
    redactor.remember("12345678")
    redactor.remember("1234567")
    redactor.remember(None)
    redactor.remember("")
    assert redactor.text("a 12345678 b 1234567") == f"a {REDACTED} b 1234567"


def test_a_secret_that_starts_another_never_leaves_the_rest_of_the_longer_one() -> None:
    redactor = Redactor()
    redactor.remember("token-abc")
    redactor.remember("token-abc-0123456789")
    redactor.remember("token-abc")
    assert redactor.text("x token-abc-0123456789 y token-abc z") == f"x {REDACTED} y {REDACTED} z"


def test_the_most_recent_secrets_are_kept_and_the_oldest_forgotten() -> None:
    redactor = Redactor()
    secrets = [f"old-secret-{i:02d}" for i in range(REMEMBERED_SECRETS + 1)]
    for secret in secrets:
        redactor.remember(secret)
    assert redactor.text(secrets[0]) == secrets[0], "the oldest is forgotten: the memory is bounded"
    assert all(redactor.text(s) == REDACTED for s in secrets[1:])


def test_data_redacts_every_string_and_keeps_other_values_as_they_are() -> None:
    redactor = Redactor()
    assert redactor.data({1: f"a {JWT}", "k": [JWT], "n": 2.5, "b": True, "z": None}) == {
        1: f"a {REDACTED}", "k": [REDACTED], "n": 2.5, "b": True, "z": None}


def test_the_process_wide_redactor_learns_secrets_through_remember_secret() -> None:
    remember_secret("process-wide-secret-42")
    assert redact("sent process-wide-secret-42") == f"sent {REDACTED}"


# The screen in Redactor.data (one look at the JSON text) against the full walk, on generated JSON with secrets in
# every position: keys and values, at any depth, next to newlines, quotes, backslashes, control characters and
# other whitespace, and secrets that themselves hold characters JSON escapes.
ODD_SECRETS = ('tok"en\\with\nnewline-\u00fc', "secret\twith\x1ccontrols", "emoji-\U0001f600-token",
               "plain-opaque-token-0042")
# A real key's PEM block, made at run time (no key is kept in the repository).
PEM_BLOCK = ec.generate_private_key(ec.SECP384R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode().strip()
FRAGMENTS = (
    *ODD_SECRETS, JWT, JWT[:40], "eyJ0_-1.a_-9", "eyJa-_Z.9_-b.c", "Bearer abcdefgh12345678",
    "bEaReR\nabcdefgh12345678==", "bearer\tabc/def+ghi~jk",
    "BEARER\x0babcdefgh1234", "Bearer\x1cabcdefgh1234", "Bearer\u2028abcdefgh1234", "bearer\u00a0abcdefgh1234",
    PEM_BLOCK, "-----BEGIN RSA PRIVATE KEY-----", "\n", "\r\n", '"', "\\", "\\n", "\x00", "\u2028", "\ud800", "eyJ",
    "\U0001f600",
    "bearer", "Bearer short", " ", "\u00e9", "x",
)
fragment_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=5).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | fragment_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(fragment_text, inner, max_size=4),
    max_leaves=12,
)


def _screening_redactor() -> Redactor:
    redactor = Redactor()
    for secret in ODD_SECRETS:
        redactor.remember(secret)
    return redactor


@settings(max_examples=int(os.environ.get("EPIC_MCP_PROPERTY_EXAMPLES", "300")), deadline=None)
@given(json_values)
def test_the_screened_redaction_equals_the_full_walk_on_any_json(value: object) -> None:
    redactor = _screening_redactor()
    assert redactor.data(value) == redactor.walk(value)


@pytest.mark.parametrize("fragment", FRAGMENTS[:16])
def test_each_secret_shape_is_caught_by_the_screen_inside_a_nested_key_and_value(fragment: str) -> None:
    """Each shape, the shortest JWT-shaped text with base64url's '-', '_' and digits in both parts included: a
    screen that missed one would hand the value on unredacted."""
    redactor = _screening_redactor()
    for value in ({"a": [{"b": f"x\n{fragment}\"y"}]}, {f"k\\{fragment}\n": 1}):
        redacted = redactor.data(value)
        assert redacted == redactor.walk(value) and redacted != value


def test_a_value_with_nothing_to_redact_is_passed_on_as_it_is() -> None:
    value = {"content": [{"type": "text", "text": "Patient/e1 | name: Ann \"Bee\" Lee\\n eyJ"}], "n": [1, 2.5, None]}
    assert _screening_redactor().data(value) is value


def test_a_value_json_cannot_write_is_still_redacted_string_by_string() -> None:
    assert Redactor().data({"k": (JWT,), "s": f"a {JWT}", 1: b"bytes"}) == {"k": (JWT,), "s": f"a {REDACTED}",
                                                                           1: b"bytes"}
