"""Free text without the patient's identifiers: the names, identifiers, phone numbers, e-mail addresses and
street addresses taken from the patient's own record (and from people named in it, such as contacts), plus
patterns for identifiers of anyone (SSN, phone, e-mail, MRN, long numbers, URLs, IP addresses), ages over 89,
and every date written in the text moved by the patient's offset.

This is pattern matching, not named-entity recognition: a name the record does not hold (a relative named only
in a note) stays unless it comes with a pattern. SECURITY.md says so identifier by identifier.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .dates import rewrite_text, shift_day

NAME = "[name]"
PHONE = "[phone]"
EMAIL = "[email]"
ADDRESS = "[address]"
NUMBER = "[number]"
SSN = "[ssn]"
URL = "[url]"
IP = "[ip]"

PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), EMAIL),
    # No \b before the scheme or www: sftp://, or www. glued to a word, is still an address.
    (re.compile(r"(?:https?|s?ftp)://[^\s<>\"']+|www\.[^\s<>\"']+", re.I), URL),
    # International numbers before IPv4: a dotted one (+33.1.42.68.53.00) holds four dotted groups too.
    (re.compile(r"(?<!\w)\+\d{1,3}[\s.-]?(?:\(?\d{1,4}\)?[\s.-]?){1,4}\d{2,4}\b"), PHONE),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), IP),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), SSN),
    # A slash may separate two numbers (home/cell); an extension may follow the last digits (x12).
    (re.compile(r"(?<!\w)(?:\+?1[\s.-]?)?\(?\b\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}(?!\d)"), PHONE),
    (re.compile(r"(?<![\w-])0\d{1,4}-\d{1,4}-\d{3,4}(?![\w-])"), PHONE),
    (re.compile(r"(?P<label>\b(?:(?:MRN|MR#|MR\s*No\.?|CSN|account|acct\.?|accession|encounter|specimen)"
                r"(?:\s*(?:number|no\.?|id|#))?|(?:medical record|patient|member|subscriber|insurance(?: member)?|"
                r"policy|visit|order|(?:driver'?s? )?licen[cs]e|certificate|passport|serial)\s*(?:number|no\.?|id|#))|"
                r"被保険者番号|保険者番号|記号番号|患者ID|患者番号|"
                r"診療録番号|カルテ番号)(?P<sep>\s*[:#]?\s*)"
                r"(?P<value>(?!\d{4}-\d{2}-\d{2})(?=[A-Z-]*\d)[A-Z0-9][A-Z0-9:-]{3,})", re.I),
     lambda m: f"{m['label']}{m['sep']}{NUMBER}"),
    (re.compile(r"(?<![\w.,])\d{7,}(?![\w.,]\d)"), NUMBER),
    (re.compile(r"\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|"
                r"Ln|Way|Court|Ct|Place|Pl|Terrace|Circle|Parkway|Highway|Hwy)\b\.?"), ADDRESS),
]
ADJACENT_NAMES = re.compile(r"\[name\](?:(?:\s+|,\s*)\[name\])+")
AGE = re.compile(r"\b(?P<n>\d{2,3})(?P<unit>[- ](?:years?|yrs?)[- ]old\b|[- ]year-old\b|\s?-?y/?o\b|\s*歳)", re.I)
AGE_PREFIX = re.compile(r"\b(?P<label>aged?|age:)\s*(?P<n>\d{2,3})\b", re.I)


def _is_cjk(text: str) -> bool:
    """Scripts written without spaces between words, where a name is found as a substring."""
    return any(unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")) for ch in text)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


ACCENTED = {"a": "aáàâäãåā", "e": "eéèêëē", "i": "iíìîïī", "o": "oóòôöõøō", "u": "uúùûüū", "n": "nñ", "c": "cç",
            "y": "yýÿ", "s": "sš", "z": "zž"}


def _folded(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _word_pattern(word: str) -> str:
    """A word with or without its accents: López is found for Lopez, and Lopez for López."""
    if _is_cjk(word):
        return re.escape(word)
    return "".join(f"[{ACCENTED[ch.lower()]}]" if ch.lower() in ACCENTED else re.escape(ch) for ch in _folded(word))


def _term_pattern(term: str) -> str:
    """A term with any whitespace between its words; whole words, except in scripts written without spaces."""
    pattern = r"\s+".join(_word_pattern(word) for word in term.split())
    return pattern if _is_cjk(term) else rf"(?<!\w){pattern}(?!\w)"


def _phone_pattern(number: str) -> str | None:
    """The number's last ten significant digits with any separators between them, with whatever prefix the note
    writes (+1, +81, 1-, a trunk 0, an opening bracket): so 469-888-8888 and (469) 888-8888 are found for
    +1 469-888-8888, and +81 90 7875 7297 for 090-7875-7297."""
    digits = _digits(number).lstrip("0")
    if len(digits) < 7:
        return None
    body = r"[\s().-]*".join(digits[-10:])
    return rf"(?<![\d+])(?:\+\d{{1,3}}[\s.-]*|1[\s.-])?\(?0?{body}(?!\d)"


@dataclass(frozen=True)
class Identity:
    """What identifies one patient, read from the Patient resource: the terms free text must not contain."""

    patient_id: str
    names: frozenset[str] = frozenset()
    identifiers: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    places: frozenset[str] = frozenset()
    birth_date: date | None = None

    @classmethod
    def of(cls, patient: dict[str, Any]) -> Identity:
        """From a Patient resource (names, identifiers, telecom, addresses, contacts, birth date)."""
        people = [patient, *(c for c in _list(patient.get("contact")) if isinstance(c, dict))]
        names: set[str] = set()
        phones: set[str] = set()
        emails: set[str] = set()
        places: set[str] = set()
        for person in people:
            names |= _names(person.get("name"))
            for telecom in _list(person.get("telecom")):
                if isinstance(telecom, dict) and isinstance(telecom.get("value"), str):
                    target = emails if telecom.get("system") == "email" or "@" in telecom["value"] else phones
                    target.add(telecom["value"])
            places |= _places(person.get("address"))
        identifiers = {i["value"].strip() for i in _list(patient.get("identifier"))
                       if isinstance(i, dict) and isinstance(i.get("value"), str) and len(i["value"].strip()) >= 4}
        born = patient.get("birthDate")
        try:
            birth_date = date.fromisoformat(born) if isinstance(born, str) and len(born) == 10 else None
        except ValueError:
            birth_date = None
        return cls(str(patient.get("id")), frozenset(names), frozenset(identifiers), frozenset(phones),
                   frozenset(emails), frozenset(places), birth_date)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _names(value: Any) -> set[str]:
    """Full names and their parts (given and family); a one-letter part only inside the full name."""
    found: set[str] = set()
    for name in _list(value):
        if not isinstance(name, dict):
            continue
        given = [g for g in _list(name.get("given")) if isinstance(g, str)]
        family = name.get("family") if isinstance(name.get("family"), str) else None
        parts = [*given, *([family] if family else [])]
        if isinstance(name.get("text"), str):
            found.add(name["text"].strip())
            parts += name["text"].split()
        if parts:
            found.add(" ".join(parts))
            if family and given:
                found.add(f"{given[0]} {family}")
                found.add(f"{family} {given[0]}")
                found.add(f"{family}, {given[0]}")
                found.add(f"{family}{given[0]}")
        found |= {p for p in parts if len(p) >= 2}
    return {n for n in found if n and not n.isdigit()}


def _places(value: Any) -> set[str]:
    found: set[str] = set()
    for address in _list(value):
        if not isinstance(address, dict):
            continue
        found |= {line.strip() for line in _list(address.get("line")) if isinstance(line, str) and line.strip()}
        for key in ("text", "city", "district", "postalCode"):
            if isinstance(address.get(key), str) and len(address[key].strip()) >= 3:
                found.add(address[key].strip())
    return found


def _normal(term: str) -> str:
    return _folded(re.sub(r"\s+", " ", term)).casefold()


@dataclass(frozen=True)
class _Compiled:
    pattern: re.Pattern[str] | None
    phones: tuple[re.Pattern[str], ...]
    lookup: dict[str, str]

    def sub(self, text: str) -> str:
        if self.pattern is None:
            return text

        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            if any(p.fullmatch(found) for p in self.phones):
                return PHONE
            return self.lookup.get(_normal(found), NAME)

        return self.pattern.sub(replace, text)


@functools.lru_cache(maxsize=256)
def _compiled(terms: frozenset[tuple[str, str]], phones: tuple[str, ...] = ()) -> _Compiled:
    """One pattern for a set of terms (longest first) and phone numbers; the same patient's terms are compiled
    once, not once per record."""
    ordered = sorted((t for t, _ in terms), key=len, reverse=True)
    alternatives = [f"(?:{p})" for p in phones] + [_term_pattern(t) for t in ordered]
    return _Compiled(re.compile("|".join(alternatives), re.I) if alternatives else None,
                     tuple(re.compile(p) for p in phones), {_normal(t): v for t, v in terms})


class Scrubber:
    """Rewrites free text of one patient (or of no known patient: patterns only). `replacements` maps further
    terms to what replaces them (an identifier to its pseudonym); `local` likewise, for terms of one record only
    (its own identifiers, clinicians' names), looked for only when the text contains them."""

    def __init__(self, identity: Identity | None, days: int, replacements: Mapping[str, str] | None = None,
                 birth: str | None = None, local: Mapping[str, str] | None = None) -> None:
        self.days = days
        self._born = identity.birth_date if identity is not None else None
        self._birth = birth
        terms: dict[str, str] = {}
        phones: tuple[str, ...] = ()
        if identity is not None:
            terms |= {identifier: NUMBER for identifier in identity.identifiers}
            terms |= {name: NAME for name in identity.names}
            terms |= {place: ADDRESS for place in identity.places}
            terms |= {email: EMAIL for email in identity.emails}
            phones = tuple(sorted(p for p in map(_phone_pattern, identity.phones) if p))
        terms |= {term: value for term, value in (replacements or {}).items() if len(term) >= 2}
        self._shared = (frozenset(terms.items()), phones)
        self._local = {_normal(term): (term, value) for term, value in (local or {}).items() if len(term) >= 2}

    def _date(self, day: date, whole_day: bool) -> date | str | None:
        """The birth date becomes what the structured record shows (the year, or 90+); other dates move."""
        if whole_day and day == self._born:
            return self._birth or str(day.year)
        return shift_day(day, self.days) if self.days else None

    def text(self, value: str) -> str:
        # Dates, numbers, ages and every pattern need a digit, except e-mail addresses and URLs.
        patterned = any(ch.isdigit() for ch in value) or "@" in value or "//" in value or "www." in value.lower()
        if patterned:
            value = rewrite_text(value, self._date)
        if self._local:
            folded = _normal(value)
            present = frozenset(pair for key, pair in self._local.items() if key in folded)
            if present:
                value = _compiled(present).sub(value)
        value = _compiled(*self._shared).sub(value)
        if patterned:
            for pattern, replacement in PATTERNS:
                value = pattern.sub(replacement, value)
            value = _cap_ages(value)
        return ADJACENT_NAMES.sub(NAME, value) if NAME in value else value


def _cap_ages(text: str) -> str:
    """Ages over 89 become 90+ (Safe Harbor aggregates them)."""
    text = AGE.sub(lambda m: f"90+{m['unit']}" if int(m["n"]) > 89 else m.group(0), text)
    return AGE_PREFIX.sub(lambda m: f"{m['label']} 90+" if int(m["n"]) > 89 else m.group(0), text)
