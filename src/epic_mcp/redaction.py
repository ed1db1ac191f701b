"""The one redaction rule for text that leaves the process: secrets become [redacted].

A FHIR server, a token endpoint or a proxy may echo a bearer token or a client assertion in an
OperationOutcome, an error description or a resource. Whatever the server sends is redacted before it reaches a
tool result, a resource, an error, a log line or `doctor` output: the secrets this process holds (access tokens,
current and previous; client assertions; the HTTP transport's token), anything shaped like a JWT, the value of
any `Bearer ...` credential, and PEM private keys.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8
REMEMBERED_SECRETS = 16

# A JWT (JWS compact form): base64url header starting '{"' (eyJ), payload, and signature (or what is left of one
# that a server cut short).
JWT = r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?"
BEARER = r"(?i:bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*"
PEM_KEY = r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
PATTERNS = (PEM_KEY, JWT, BEARER)
# What every match of PATTERNS contains, as it appears in JSON text (json.dumps, all ASCII): the PEM header, a
# JWT's head, and the word bearer in any case (its letters have no case forms outside ASCII).
PEM_HEAD = "-----BEGIN "
JWT_HEAD = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
BEARER_WORD = "bearer"


class Redactor:
    """Known secrets plus the shapes secrets take; one compiled pattern, rebuilt when a secret is added."""

    def __init__(self) -> None:
        self._secrets: deque[str] = deque(maxlen=REMEMBERED_SECRETS)
        self._pattern = re.compile("|".join(PATTERNS))
        self._secrets_in_json: tuple[str, ...] = ()

    def remember(self, secret: str | None) -> None:
        """Add a secret this process holds (a token, an assertion); the most recent few are kept."""
        if not secret or len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.append(secret)
        known = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join([*(re.escape(s) for s in known), *PATTERNS]))
        self._secrets_in_json = tuple(_in_json(s) for s in known)

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value)

    def data(self, value: Any) -> Any:
        """A JSON-like value with every string redacted (keys included): a redacted copy, or the value itself when
        no string in it holds anything to redact. One look at the value's JSON text tells which (a tool answer is
        walked string by string only when that text holds something a secret would)."""
        try:
            flat = json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            return self.walk(value)
        return self.walk(value) if self._may_hold_secret(flat) else value

    def walk(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string redacted (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        return value

    def _may_hold_secret(self, flat: str) -> bool:
        """False only when no string inside the JSON text `flat` can match the redaction pattern: JSON writes each
        character of a string on its own (a newline as \\n, a quote as \\", an e-acute as \\u00e9), so whatever a
        string holds, its JSON form holds the JSON form of it, and every match of the pattern holds one of these."""
        return (PEM_HEAD in flat or BEARER_WORD in flat.lower() or JWT_HEAD.search(flat) is not None
                or any(secret in flat for secret in self._secrets_in_json))


def _in_json(secret: str) -> str:
    """How a secret reads inside a JSON string: escaped as json.dumps escapes it."""
    return json.dumps(secret)[1:-1]


# One per process, like the token manager whose tokens it learns.
REDACTOR = Redactor()


def redact(text: str) -> str:
    return REDACTOR.text(text)


def remember_secret(secret: str | None) -> None:
    REDACTOR.remember(secret)
