"""The local sandbox: sekmet-fhir (a real FHIR R4 server with a SMART Backend Services token endpoint) on
127.0.0.1, with our JWKS registered and the bundled synthetic data set loaded once.

Needs the `sandbox` extra (`pip install 'epic-mcp[sandbox]'`); nothing here imports sekmet itself, it runs as
its own process.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from ..errors import EpicMcpError
from ..keys import KeyRing, generate_key, write_private_key
from ..settings import Settings
from .group import sandbox_group
from .sekmet_launcher import EPIC_SEARCH_PARAMS

logger = logging.getLogger(__name__)

DATA_FILE = "data.json.gz"
SOFTWARE_NAME = "SEKMET FHIR R4 Tester"
TOKEN_LIFETIME_SECONDS = 3600
BATCH_SIZE = 400
START_TIMEOUT_SECONDS = 30.0


class SandboxError(EpicMcpError):
    """The sandbox could not be started, loaded or stopped."""


def bundled_data() -> bytes:
    return (resources.files(__package__) / DATA_FILE).read_bytes()


def data_set() -> dict[str, Any]:
    """The synthetic data set: {"description", "patients", "resources"} (resources in load order)."""
    return json.loads(gzip.decompress(bundled_data()))


def transactions(items: list[dict[str, Any]], size: int = BATCH_SIZE) -> Iterator[dict[str, Any]]:
    """PUT transactions (ids kept) of at most `size` entries, in the order given."""
    for start in range(0, len(items), size):
        yield {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in items[start:start + size]]}


def sekmet_command() -> list[str]:
    """sekmet, run by this interpreter through the launcher that adds Epic's search parameters."""
    if importlib.util.find_spec("sekmet") is None:
        raise SandboxError("the local sandbox needs sekmet-fhir: pip install 'epic-mcp[sandbox]'")
    return [sys.executable, "-m", f"{__package__}.sekmet_launcher"]


def sekmet_config(root_url: str, port: int, data_dir: Path, clients: list[dict[str, Any]], loader_token: str,
                  token_lifetime: int = TOKEN_LIFETIME_SECONDS) -> dict[str, Any]:
    """sekmet settings for a loopback server whose SMART clients are `clients` (client_id, jwks, scopes)."""
    return {
        "base_url": f"{root_url}/fhir",
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(data_dir),
        "log_inbound": False,
        "simulator": {"enabled": False},
        "own_private_key_path": str(data_dir / "sekmet-own.pem"),
        "server_auth": {"types": ["smart", "bearer"], "tokens": [loader_token], "token_lifetime": token_lifetime,
                        "smart_clients": clients},
    }


def is_serving(base_url: str) -> bool:
    try:
        response = httpx.get(f"{base_url}/metadata", timeout=2, headers={"Accept": "application/fhir+json"})
        return response.status_code == 200 and response.json().get("software", {}).get("name") == SOFTWARE_NAME
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def wait_until_serving(base_url: str, process: subprocess.Popen[bytes], log: Path,
                       timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise SandboxError(f"the sandbox server exited at start (see {log}): {tail}")
        if is_serving(base_url):
            return
        time.sleep(0.1)
    process.terminate()
    raise SandboxError(f"the sandbox server did not answer within {timeout:g} s (see {log})")


def load_resources(base_url: str, loader_token: str, items: list[dict[str, Any]]) -> None:
    with httpx.Client(timeout=300, headers={"Authorization": f"Bearer {loader_token}",
                                            "Content-Type": "application/fhir+json"}) as http:
        for bundle in transactions(items):
            response = http.post(base_url, json=bundle)
            if response.status_code >= 300:
                raise SandboxError(f"loading the sandbox data failed: HTTP {response.status_code} "
                                   f"{response.text[:300]}")


class Sandbox:
    """The sandbox described by the settings: its folder, port, key and client registration."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.epic_sandbox_dir
        self.port = settings.epic_sandbox_port
        self.root_url = settings.sandbox_root_url
        self.base_url = f"{self.root_url}/fhir"
        self.data_dir = self.folder / "data"
        self.log_path = self.folder / "sekmet.log"
        self.pid_path = self.folder / "sekmet.pid"

    def _secret(self, name: str) -> str:
        path = self.folder / name
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def ensure_key(self) -> KeyRing:
        """The client key: PRIVATE_KEY_PATH if set, else the sandbox's own, generated on first use."""
        if self.settings.key_paths == [self.settings.sandbox_key_path] and not self.settings.sandbox_key_path.exists():
            kid = write_private_key(generate_key(), self.settings.sandbox_key_path)
            logger.info("created the sandbox client key %s (kid %s)", self.settings.sandbox_key_path, kid)
        return KeyRing.from_settings(self.settings)

    def config(self) -> dict[str, Any]:
        client = {"client_id": self.settings.require_client_id(), "jwks": self.ensure_key().jwks(),
                  "scopes": "system/*.read"}
        return sekmet_config(self.root_url, self.port, self.data_dir, [client], self._secret("loader-token"))

    def start(self, *, background: bool) -> subprocess.Popen[bytes]:
        """Start sekmet (registering the current client and key) and load the data set when it is new."""
        if is_serving(self.base_url):
            raise SandboxError(f"a sandbox is already serving on port {self.port}; "
                               "stop it with `epic-mcp sandbox --stop`")
        config_path = self.folder / "sekmet.json"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps(self.config(), indent=2))
        config_path.chmod(0o600)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        process = subprocess.Popen([*sekmet_command(), "serve", "-c", str(config_path)], cwd=self.folder,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=background)
        log.close()
        self.pid_path.write_text(str(process.pid))
        wait_until_serving(self.base_url, process, self.log_path)
        self._load_if_new()
        return process

    def _load_if_new(self) -> None:
        """Load the data set unless this exact data was loaded and indexed with these search parameters: a new
        data set or new parameters (after an upgrade) loads it again, which re-indexes every resource."""
        data = data_set()
        items = [*data["resources"], sandbox_group(data["patients"])]
        digest = hashlib.sha256(bundled_data() + json.dumps([EPIC_SEARCH_PARAMS, items[-1]], sort_keys=True)
                                .encode()).hexdigest()
        marker = self.data_dir / "loaded.sha256"
        if marker.exists() and marker.read_text().strip() == digest:
            return
        started = time.perf_counter()
        load_resources(self.base_url, self._secret("loader-token"), items)
        marker.write_text(digest)
        logger.info("loaded %d synthetic resources in %.1f s", len(items), time.perf_counter() - started)

    def ensure_running(self) -> None:
        """Start the sandbox in the background unless it already serves (EPIC_ENV=local)."""
        if not is_serving(self.base_url):
            logger.info("starting the local sandbox on %s", self.base_url)
            self.start(background=True)

    def stop(self) -> bool:
        """Stop a sandbox started earlier; False when none was running."""
        if not self.pid_path.exists():
            return False
        try:
            pid = int(self.pid_path.read_text())
            os.kill(pid, signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            self.pid_path.unlink(missing_ok=True)
            return False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and is_serving(self.base_url):
            time.sleep(0.1)
        self.pid_path.unlink(missing_ok=True)
        return True

    def reset(self) -> None:
        """Stop and delete the data; the next start loads the data set again (the key is kept)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def client_settings(self) -> str:
        return (f"EPIC_ENV=local\nEPIC_CLIENT_ID={self.settings.require_client_id()}\n"
                f"EPIC_SANDBOX_PORT={self.port}\nEPIC_SANDBOX_DIR={self.folder}\n"
                f"# FHIR base {self.base_url}, token URL {self.root_url}/auth/token")

