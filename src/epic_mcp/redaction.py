"""The one redaction rule for text that leaves the process: secrets become [redacted].

A FHIR server, a token endpoint or a proxy may echo a bearer token or a client assertion in an
OperationOutcome, an error description or a resource. Whatever the server sends is redacted before it reaches a
tool result, a resource, an error, a log line or `doctor` output: the secrets this process holds (access tokens,
current and previous; client assertions; the HTTP transport's token), anything shaped like a JWT, the value of
any `Bearer ...` credential, and PEM private keys.
"""

from __future__ import annotations

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


class Redactor:
    """Known secrets plus the shapes secrets take; one compiled pattern, rebuilt when a secret is added."""

    def __init__(self) -> None:
        self._secrets: deque[str] = deque(maxlen=REMEMBERED_SECRETS)
        self._pattern = re.compile("|".join(PATTERNS))

    def remember(self, secret: str | None) -> None:
        """Add a secret this process holds (a token, an assertion); the most recent few are kept."""
        if not secret or len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.append(secret)
        known = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join([*(re.escape(s) for s in known), *PATTERNS]))

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value)

    def data(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string redacted (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value


# One per process, like the token manager whose tokens it learns.
REDACTOR = Redactor()


def redact(text: str) -> str:
    return REDACTOR.text(text)


def remember_secret(secret: str | None) -> None:
    REDACTOR.remember(secret)
