"""Named MCP client credentials for the HTTP transport (EPIC_MCP_CLIENTS_FILE).

Each client has a name, a secret it sends as `Authorization: Bearer <secret>`, a tool profile (or list of tools)
and an optional patient allowlist. The file keeps only SHA-256 hashes of the secrets: a secret is shown once,
when `epic-mcp clients add` makes it. The secrets are 256 random bits, not passwords, so a fast hash is enough
(nothing to brute-force) and checking one costs microseconds on every request. The file is re-read when it
changes, so adding or removing a client needs no restart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fhir.validation import InvalidInput, check_id
from .principal import ClientAccess
from .profiles import select_tools

logger = logging.getLogger(__name__)

SECRET_PREFIX = "emcp_"
CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
FILE_VERSION = 1


@dataclass(frozen=True)
class ClientRecord:
    name: str
    secret_sha256: str
    tools: str
    patients: tuple[str, ...] | None
    created: str

    def describe(self) -> str:
        patients = "any patient" if self.patients is None else f"{len(self.patients)} patient(s)"
        return f"{self.name}\ttools={self.tools}\t{patients}\tcreated {self.created}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ClientStore:
    """The clients file: read, and changed by `epic-mcp clients` (written whole, atomically, mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, ClientRecord]:
        if not self.path.exists():
            return {}
        if self.path.stat().st_mode & 0o022:
            raise ConfigError(f"EPIC_MCP_CLIENTS_FILE: {self.path} is writable by other users, who could add a "
                              f"client; run `chmod 600 {self.path}`")
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            return {name: _record(name, entry) for name, entry in document["clients"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"EPIC_MCP_CLIENTS_FILE: {self.path} is not a clients file ({type(exc).__name__}); "
                              "manage it with `epic-mcp clients`") from None

    def add(self, name: str, tools: str = "core", patients: list[str] | None = None) -> str:
        """Register a client and return its new secret (shown once, never stored)."""
        if not CLIENT_NAME.fullmatch(name):
            raise ConfigError("NAME: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        select_tools(tools, "--tools")
        try:
            allowed = None if patients is None else tuple(check_id("--patients", p.strip()) for p in patients)
        except InvalidInput as exc:
            raise ConfigError(str(exc)) from None
        records = self.load()
        if name in records:
            raise ConfigError(f"NAME: a client named {name} exists; remove it first to replace its secret")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        records[name] = ClientRecord(name, hash_secret(secret), tools, allowed,
                                     datetime.now(UTC).isoformat(timespec="seconds"))
        self._write(records)
        return secret

    def remove(self, name: str) -> bool:
        records = self.load()
        if records.pop(name, None) is None:
            return False
        self._write(records)
        return True

    def _write(self, records: dict[str, ClientRecord]) -> None:
        document = {"version": FILE_VERSION, "clients": {
            r.name: {"secret_sha256": r.secret_sha256, "tools": r.tools,
                     "patients": list(r.patients) if r.patients is not None else None, "created": r.created}
            for r in records.values()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
            file.write("\n")
        os.replace(temporary, self.path)


def _record(name: str, entry: dict[str, Any]) -> ClientRecord:
    patients = entry.get("patients")
    return ClientRecord(name, str(entry["secret_sha256"]), str(entry["tools"]),
                        tuple(str(p) for p in patients) if isinstance(patients, list) else None,
                        str(entry.get("created", "")))


class NamedClients:
    """A TokenVerifier for the SDK's bearer middleware: a secret from the clients file becomes its client."""

    def __init__(self, path: Path) -> None:
        self._store = ClientStore(path)
        self._by_hash: dict[str, ClientAccess] = {}
        self._seen: tuple[int, int] | None = None
        self._reload()

    def _reload(self) -> None:
        """Re-read the file when it changed; a broken file keeps the clients read before (and says so)."""
        try:
            stat = self._store.path.stat()
            seen = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = (0, 0)
        if seen == self._seen:
            return
        records = self._store.load() if self._seen is None else self._load_or_keep()
        if records is None:
            return
        self._by_hash = {r.secret_sha256: _access(r) for r in records.values()}
        self._seen = seen
        logger.info("%d named MCP client(s) loaded", len(self._by_hash))

    def _load_or_keep(self) -> dict[str, ClientRecord] | None:
        try:
            return self._store.load()
        except ConfigError as exc:
            logger.error("%s; keeping the clients read before", exc)
            return None

    async def verify_token(self, token: str) -> ClientAccess | None:
        self._reload()
        return self._by_hash.get(hash_secret(token))


def _access(record: ClientRecord) -> ClientAccess:
    patients = frozenset(record.patients) if record.patients is not None else None
    return ClientAccess(token="", client_id=record.name, scopes=[],
                        tools=select_tools(record.tools, f"EPIC_MCP_CLIENTS_FILE ({record.name})"), patients=patients)
