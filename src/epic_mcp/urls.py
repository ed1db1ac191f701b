"""URL rules that keep the bearer token on the configured FHIR server."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


def _port(url: httpx.URL) -> int | None:
    return url.port or {"https": 443, "http": 80}.get(url.scheme)


def is_within_base(url: httpx.URL, base: httpx.URL) -> bool:
    """True when `url` has the base's scheme, host and port, no userinfo, and lies under its path."""
    if url.userinfo or url.scheme != base.scheme or url.host != base.host or _port(url) != _port(base):
        return False
    base_path = base.path.rstrip("/") + "/"
    return url.path == base_path.rstrip("/") or url.path.startswith(base_path)
