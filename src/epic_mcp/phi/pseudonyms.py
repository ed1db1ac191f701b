"""Keyed, reversible pseudonyms and per-patient date offsets, all derived from one deployment secret.

A pseudonym is AES-SIV (deterministic authenticated encryption, RFC 5297) of the real value, with the kind of
value (a resource type, "identifier", ...) as associated data, written in base62. So it is:
- stable: the same value always gets the same pseudonym, across restarts and replicas, with no stored table;
- reversible only with the secret: the server maps a pseudonym the model calls back with to the real value;
- unforgeable: a value that was not made with the secret (or was made for another kind) is refused;
- a valid FHIR id when short, and always plain letters and digits (no path, query or markup character).
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# FHIR ids use exactly 64 characters, so each packs into 6 bits: pseudonyms of ids are a quarter shorter.
FHIR_ID_CHARS = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-."
# A patient's dates move by 30 to 365 days, earlier or later: a shift of a few days would hide little.
MIN_DAYS, MAX_DAYS = 30, 365
LABEL_LENGTH = 6
PSEUDONYMS_KEPT = 8192


def _derive(secret: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"epic-mcp phi v1", info=purpose).derive(secret)


CHUNK_DIGITS = 10
CHUNK = 62**CHUNK_DIGITS


def _to_base62(data: bytes) -> str:
    """Base62 of the bytes, a marker byte first so leading zero bytes survive; ten digits at a time."""
    number = int.from_bytes(b"\x01" + data, "big")
    chunks = []
    while number:
        number, part = divmod(number, CHUNK)
        digits = []
        for _ in range(CHUNK_DIGITS):
            part, digit = divmod(part, 62)
            digits.append(BASE62[digit])
        chunks.append("".join(reversed(digits)))
    return "".join(reversed(chunks)).lstrip("0")


def _from_base62(text: str) -> bytes | None:
    if any(char not in BASE62 for char in text):
        return None
    number = 0
    for start in range(0, len(text), CHUNK_DIGITS):
        piece = text[start:start + CHUNK_DIGITS]
        value = 0
        for char in piece:
            value = value * 62 + BASE62.index(char)
        number = number * 62 ** len(piece) + value
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return raw[1:] if raw[:1] == b"\x01" else None


def _pack(text: str) -> bytes:
    """One value: a FHIR id packed 6 bits a character after its length, anything else as UTF-8 after a 0."""
    if 0 < len(text) < 256 and all(c in FHIR_ID_CHARS for c in text):
        number = 0
        for char in text:
            number = number * 64 + FHIR_ID_CHARS.index(char)
        return bytes([len(text)]) + number.to_bytes((len(text) * 6 + 7) // 8, "big")
    raw = text.encode()
    return b"\x00" + len(raw).to_bytes(2, "big") + raw


def _unpack(data: bytes) -> list[str]:
    values = []
    while data:
        length = data[0]
        if length:
            size = (length * 6 + 7) // 8
            number = int.from_bytes(data[1:1 + size], "big")
            chars = []
            for _ in range(length):
                number, index = divmod(number, 64)
                chars.append(FHIR_ID_CHARS[index])
            values.append("".join(reversed(chars)))
            data = data[1 + size:]
        else:
            size = int.from_bytes(data[1:3], "big")
            values.append(data[3:3 + size].decode())
            data = data[3 + size:]
    return values


class PseudonymCodec:
    """Pseudonyms, date offsets and labels from the deployment secret (EPIC_PHI_SECRET)."""

    def __init__(self, secret: str) -> None:
        master = secret.encode()
        self._siv = AESSIV(_derive(master, b"pseudonyms", 64))
        self._offset_key = _derive(master, b"date offsets", 32)
        self._label_key = _derive(master, b"labels", 32)
        self._made: dict[tuple[str, tuple[str, ...]], str] = {}

    def pseudonym(self, kind: str, *values: str) -> str:
        """The pseudonym of one value (or a tuple of values, e.g. a Binary's id and its patient's). The same ids
        come back in every answer (the patient's, its encounters'), so recent ones are kept."""
        made = self._made.get((kind, values))
        if made is None:
            if len(self._made) >= PSEUDONYMS_KEPT:
                self._made.clear()
            made = self._made[(kind, values)] = _to_base62(self._siv.encrypt(b"".join(_pack(v) for v in values),
                                                                             [kind.encode()]))
        return made

    def reveal(self, kind: str, pseudonym: str) -> list[str] | None:
        """The values behind a pseudonym of this kind, or None if it is not one (made elsewhere or altered)."""
        if not pseudonym.isascii() or not pseudonym.isalnum():
            return None
        data = _from_base62(pseudonym)
        if data is None or len(data) < 17:
            return None
        try:
            return _unpack(self._siv.decrypt(data, [kind.encode()]))
        except (InvalidTag, ValueError, IndexError, UnicodeDecodeError):
            return None

    def real(self, kind: str, pseudonym: str) -> str | None:
        values = self.reveal(kind, pseudonym)
        return values[0] if values and len(values) == 1 else None

    def offset_days(self, patient_id: str) -> int:
        """A number of days in [-365, -30] or [30, 365], the same for every date of one patient."""
        digest = hmac.new(self._offset_key, patient_id.encode(), hashlib.sha256).digest()
        span = MAX_DAYS - MIN_DAYS + 1
        value = int.from_bytes(digest[:8], "big") % (2 * span)
        return -(MIN_DAYS + value) if value < span else MIN_DAYS + value - span

    def label(self, kind: str, value: str) -> str:
        """A short stable tag for a name that must be replaced by something readable (e.g. a clinician's)."""
        digest = hmac.new(self._label_key, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()
        return _to_base62(digest[:6])[-LABEL_LENGTH:].upper()


def reveal_any(codec: PseudonymCodec, pseudonym: str, kinds: Sequence[str]) -> tuple[str, list[str]] | None:
    """The kind and values of a pseudonym whose kind is unknown (for re-identification by an operator)."""
    for kind in kinds:
        values = codec.reveal(kind, pseudonym)
        if values is not None:
            return kind, values
    return None
