"""Error types. Every message is short, actionable, and free of secrets and patient data."""

from __future__ import annotations

from enum import StrEnum

from .redaction import redact


class EpicMcpError(Exception):
    """Base class; `str(error)` is safe to show to a user or a model: its text is redacted when it is made, since
    it often quotes what a server said."""

    def __init__(self, message: str = "") -> None:
        super().__init__(redact(message))


class ConfigError(EpicMcpError):
    """The configuration cannot work; the message names the variable and the fix."""


class TokenError(EpicMcpError):
    """No access token could be obtained from the token endpoint."""


class InvalidClientError(TokenError):
    """The token endpoint answered invalid_client: it rejected our client assertion."""


class FhirErrorKind(StrEnum):
    """What went wrong, in terms the caller can act on."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    GONE = "gone"
    BUSY = "busy"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    INVALID_RESPONSE = "invalid_response"
    REFUSED = "refused"
    UNSUPPORTED = "unsupported"


class FhirError(EpicMcpError):
    """A FHIR request failed; `kind` says how, `status` is the HTTP status when there was one."""

    def __init__(self, kind: FhirErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
