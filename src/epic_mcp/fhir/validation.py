"""Input checks that run before any request: a bad value is a clear error, never a request."""

from __future__ import annotations

import re
import weakref
from datetime import datetime
from typing import Protocol

from ..errors import EpicMcpError

# FHIR id: 1-64 of [A-Za-z0-9-.]; dot-only ids are refused because they are path segments, not ids.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_VALUE_LENGTH = 256
# Values are URL-encoded, so these cannot add parameters; they are refused because no real value needs them.
FORBIDDEN_IN_VALUES = re.compile(r"[\x00-\x1f\x7f&#=?]")
DATE_FORMS = re.compile(
    r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


# A pseudonym of the minimum PHI mode (phi/pseudonyms.py) can be longer than a FHIR id. It is letters and digits
# only, so it can neither leave the path segment nor add a parameter, and it is accepted only when a PHI layer of
# this process recognises it as its own (so the full mode still refuses every id longer than FHIR allows).
PSEUDONYM = re.compile(r"[A-Za-z0-9]{65,100}")


class PseudonymIssuer(Protocol):
    def issued(self, value: str) -> bool: ...


_issuers: weakref.WeakSet[PseudonymIssuer] = weakref.WeakSet()


def accept_pseudonyms_of(issuer: PseudonymIssuer) -> None:
    """Let check_id accept the (possibly long) pseudonyms this issuer made, for as long as it lives."""
    _issuers.add(issuer)


class InvalidInput(EpicMcpError):
    """An argument cannot be sent; the message names the argument and what is accepted."""


def check_id(arg: str, value: str) -> str:
    if PSEUDONYM.fullmatch(value) and any(issuer.issued(value) for issuer in list(_issuers)):
        return value
    if not FHIR_ID.fullmatch(value) or set(value) == {"."} or ".." in value:
        raise InvalidInput(f"{arg} is not a FHIR id (1-64 letters, digits, '-' or '.'); "
                           "use an id from a search result")
    return value


def check_value(arg: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{arg} is empty; leave it out or give a value")
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInput(f"{arg} is longer than {MAX_VALUE_LENGTH} characters; shorten it")
    if FORBIDDEN_IN_VALUES.search(value):
        raise InvalidInput(f"{arg} contains a character that no search value needs (&, #, =, ? or a control "
                           "character); remove it")
    return value


def check_date(arg: str, value: str, *, day_only: bool = False) -> str:
    value = value.strip()
    if not _is_date(value) or (day_only and len(value) != 10):
        accepted = "YYYY-MM-DD" if day_only else "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
        raise InvalidInput(f"{arg} is not a date; use {accepted}")
    return value


def _is_date(value: str) -> bool:
    """One of FHIR's date forms, and a real day (no 2023-02-29): a year or month is checked as its first day."""
    if DATE_FORMS.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value + {4: "-01-01", 7: "-01"}.get(len(value), ""))
    except ValueError:
        return False
    return True
