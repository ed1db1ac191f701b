"""URL rules that keep the bearer token on the configured FHIR server."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

# Percent-encoded '.', '/' and '\': a server normalises them into path structure after our check would have passed
# (`R4/%2e%2e/%2e%2e/oauth2/token` climbs out of the base), and no FHIR id or next link needs them.
ENCODED_PATH_STRUCTURE = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def has_path_tricks(url: httpx.URL) -> bool:
    """True when the path could mean something else to the server than to us: encoded dots or slashes, a
    backslash, or a '.'/'..' segment (which a server resolves)."""
    raw_path = url.raw_path.split(b"?", 1)[0].decode("ascii", errors="replace")
    if ENCODED_PATH_STRUCTURE.search(raw_path) or "\\" in url.path:
        return True
    return any(segment in (".", "..") for segment in url.path.split("/"))


def is_within_base(url: httpx.URL, base: httpx.URL) -> bool:
    """True when `url` has the base's scheme, host and port, no userinfo, no path tricks, and lies under the
    base's path. (httpx gives a scheme's default port as None, so :443 and no port compare equal.)"""
    if url.userinfo or url.scheme != base.scheme or url.host != base.host or url.port != base.port:
        return False
    if has_path_tricks(url):
        return False
    base_path = base.path.rstrip("/") + "/"
    return url.path == base_path.rstrip("/") or url.path.startswith(base_path)
