"""The local sandbox: sekmet-fhir (a real FHIR R4 server with a SMART Backend Services token endpoint) on
127.0.0.1, with our JWKS registered and the bundled synthetic data set loaded once.

Needs the `sandbox` extra (sekmet-fhir; `missing_extra` says how to install it); nothing here imports sekmet
itself, it runs as its own process.
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
from contextlib import contextmanager
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from ..auth.keys import KeyRing, generate_key, write_private_key
from ..errors import EpicMcpError
from ..extras import missing_extra
from ..settings import Settings
from . import lifecycle
from .group import sandbox_group
from .sekmet_launcher import EPIC_SEARCH_PARAMS
from .timeshift import reference_date, shift_for, shift_resource

logger = logging.getLogger(__name__)

DATA_FILE = "data.json.gz"
SOFTWARE_NAME = "SEKMET FHIR R4 Tester"
TOKEN_LIFETIME_SECONDS = 3600
BATCH_SIZE = 400
START_TIMEOUT_SECONDS = 30.0
# A second starter waits for the first one's start and load (about 6 s on a first run).
LOCK_TIMEOUT_SECONDS = 120.0
LAUNCHER = f"{__package__}.sekmet_launcher"


class SandboxError(EpicMcpError):
    """The sandbox could not be started, loaded or stopped."""


def bundled_data() -> bytes:
    return (resources.files(__package__) / DATA_FILE).read_bytes()


def data_set(today: date) -> dict[str, Any]:
    """The synthetic data set dated for `today` (see timeshift): {"description", "patients", "resources" (in load
    order), "dates": {"reference_date", "shift_days"}}, where reference_date is the day of the newest past clinical
    event as built and shift_days how far every date moved."""
    data: dict[str, Any] = json.loads(gzip.decompress(bundled_data()))
    reference = reference_date(data["resources"])
    days = shift_for(reference, today)
    data["resources"] = [shift_resource(resource, days) for resource in data["resources"]]
    data["dates"] = {"reference_date": reference.isoformat(), "shift_days": days}
    return data


def data_digest() -> str:
    """Names the data set, the Group built from it and the search parameters it is indexed with: an upgrade that
    changes any of them reloads."""
    patients = json.loads(gzip.decompress(bundled_data()))["patients"]
    extra = json.dumps([EPIC_SEARCH_PARAMS, sandbox_group(patients)], sort_keys=True).encode()
    return hashlib.sha256(bundled_data() + extra).hexdigest()


def transactions(items: list[dict[str, Any]], size: int = BATCH_SIZE) -> Iterator[dict[str, Any]]:
    """PUT transactions (ids kept) of at most `size` entries, in the order given."""
    for start in range(0, len(items), size):
        yield {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in items[start:start + size]]}


def require_sekmet() -> None:
    """Checked before the sandbox writes anything (folder, lock, key): a missing extra fails with its fix alone."""
    if importlib.util.find_spec("sekmet") is None:
        raise SandboxError(missing_extra("sandbox", "for the local sandbox"))


def sekmet_command() -> list[str]:
    """sekmet, run by this interpreter through the launcher that adds Epic's search parameters."""
    require_sekmet()
    return [sys.executable, "-m", LAUNCHER]


def another_port() -> str:
    return f"set EPIC_SANDBOX_PORT to a free port (for example EPIC_SANDBOX_PORT={lifecycle.free_port()})"


def port_taken(port: int, how: str = "") -> str:
    """What to do when something other than a sandbox listens on the sandbox's port (`how` it answers, if known)."""
    return f"port {port} on 127.0.0.1 is used by another program{how}; {another_port()}"


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


def is_serving(base_url: str, http: httpx.Client | None = None) -> bool:
    """`http`: a client to ask with, for a caller that asks again and again (each new client loads the system's CA
    certificates, a tenth of a second of CPU)."""
    url, headers = f"{base_url}/metadata", {"Accept": "application/fhir+json"}
    try:
        response = (http.get(url, timeout=2, headers=headers) if http is not None
                    else httpx.get(url, timeout=2, headers=headers))
        return response.status_code == 200 and response.json().get("software", {}).get("name") == SOFTWARE_NAME
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def wait_until_serving(base_url: str, process: subprocess.Popen[bytes], log: Path,
                       timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SandboxError(f"the sandbox server exited at start: {_last_line(log)} (full log: {log})")
            if is_serving(base_url, http):
                return
            time.sleep(0.1)
    process.terminate()
    raise SandboxError(f"the sandbox server did not answer within {timeout:g} s (see {log})")


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()] \
        if log.exists() else []
    return lines[-1][:200] if lines else "no output"


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
        self.config_path = self.folder / "sekmet.json"
        self.marker_path = self.data_dir / "loaded.json"

    def _secret(self, name: str) -> str:
        path = self.folder / name
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def ensure_key(self) -> KeyRing:
        """The sandbox's own client key, generated on first use."""
        if not self.settings.sandbox_key_path.exists():
            kid = write_private_key(generate_key(), self.settings.sandbox_key_path)
            logger.info("created the sandbox client key %s (kid %s)", self.settings.sandbox_key_path, kid)
        return KeyRing.from_settings(self.settings)

    def config(self) -> dict[str, Any]:
        client = {"client_id": self.settings.require_client_id(), "jwks": self.ensure_key().jwks(),
                  "scopes": "system/*.read"}
        return sekmet_config(self.root_url, self.port, self.data_dir, [client], self._secret("loader-token"))

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One starter at a time per sandbox folder: the others wait, then find it serving."""
        try:
            with lifecycle.exclusive(self.folder / "sandbox.lock", LOCK_TIMEOUT_SECONDS):
                yield
        except lifecycle.LockTimeout:
            raise SandboxError(f"another epic-mcp has been starting the sandbox in {self.folder} for over "
                               f"{LOCK_TIMEOUT_SECONDS:g} s; see {self.log_path}") from None

    def start(self, *, background: bool) -> subprocess.Popen[bytes]:
        """Start sekmet (registering the current client and key) and load the data set when it is new."""
        require_sekmet()
        with self._exclusive():
            if is_serving(self.base_url):
                raise SandboxError(f"a sandbox is already serving on port {self.port}; "
                                   "stop it with `epic-mcp sandbox --stop`")
            return self._spawn(background=background)

    def _spawn(self, *, background: bool) -> subprocess.Popen[bytes]:
        if lifecycle.port_in_use(self.port):
            raise SandboxError(port_taken(self.port))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2))
        self.config_path.chmod(0o600)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        process = subprocess.Popen([*sekmet_command(), "serve", "-c", str(self.config_path)], cwd=self.folder,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=background)
        log.close()
        try:
            wait_until_serving(self.base_url, process, self.log_path)
            self.pid_path.write_text(str(process.pid))
            self._load_if_new()
        except BaseException:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            lifecycle.forget_pid(self.pid_path, process.pid)
            raise
        return process

    def loaded_dates(self) -> dict[str, Any] | None:
        """What the sandbox last loaded: {"data", "reference_date", "shift_days"}, or None."""
        try:
            loaded = json.loads(self.marker_path.read_text())
        except (OSError, ValueError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def _is_current(self, loaded: dict[str, Any] | None) -> bool:
        """The loaded data is this data set, indexed with these parameters, and dated for today."""
        if loaded is None or loaded.get("data") != data_digest():
            return False
        try:
            reference = date.fromisoformat(str(loaded.get("reference_date")))
        except ValueError:
            return False
        return loaded.get("shift_days") == shift_for(reference, self.settings.today())

    def _load_if_new(self) -> None:
        """Load the data set unless this exact data was loaded, indexed with these search parameters, and dated for
        today: a new data set or new parameters (after an upgrade) load it again, which re-indexes every resource,
        and a later day moves every date (same ids: each resource is replaced)."""
        if self._is_current(self.loaded_dates()):
            return
        started = time.perf_counter()
        data = data_set(self.settings.today())
        items = [*data["resources"], sandbox_group(data["patients"])]
        load_resources(self.base_url, self._secret("loader-token"), items)
        self.marker_path.write_text(json.dumps({"data": data_digest(), **data["dates"]}))
        logger.info("loaded %d synthetic resources in %.1f s (dates moved by %d days)", len(items),
                    time.perf_counter() - started, data["dates"]["shift_days"])

    def ensure_running(self) -> None:
        """Start the sandbox in the background unless it already serves (EPIC_ENV=local); a sandbox of this folder
        that was loaded on an earlier day gets its dates moved to today."""
        if not is_serving(self.base_url):
            require_sekmet()
        with self._exclusive():
            if not is_serving(self.base_url):
                logger.info("starting the local sandbox on %s", self.base_url)
                self._spawn(background=True)
            elif self.running_pid() is not None:
                self._load_if_new()

    def running_pid(self) -> int | None:
        """The pid of this folder's sandbox when the pid file names a live sekmet launched with this folder's
        config; never some other process that happens to have that pid now."""
        pid = lifecycle.read_pid(self.pid_path)
        if pid is not None and lifecycle.runs(pid, LAUNCHER, str(self.config_path)):
            return pid
        return None

    def stop(self) -> bool:
        """Stop a sandbox started from this folder; False when none was running (a stale pid file is removed)."""
        pid = self.running_pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            if lifecycle.wait_for_exit(pid, LAUNCHER, str(self.config_path), timeout=wait):
                break
        lifecycle.forget_pid(self.pid_path, pid)
        return True

    def forget(self, process: subprocess.Popen[bytes]) -> None:
        """After a foreground sandbox ends (Ctrl-C, or it exits): its pid file goes with it."""
        lifecycle.forget_pid(self.pid_path, process.pid)

    def reset(self) -> None:
        """Stop and delete the data; the next start loads the data set again (the key is kept)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def client_settings(self) -> str:
        return (f"EPIC_ENV=local\nEPIC_CLIENT_ID={self.settings.require_client_id()}\n"
                f"EPIC_SANDBOX_PORT={self.port}\nEPIC_SANDBOX_DIR={self.folder}\n"
                f"# FHIR base {self.base_url}, token URL {self.root_url}/auth/token")

    def status(self) -> dict[str, Any]:
        """For epic://status: how the synthetic data's dates were moved to stay current (reference_date is the
        newest past clinical event as built, which now falls shift_days later)."""
        loaded = self.loaded_dates() or {}
        return {"data_reference_date": loaded.get("reference_date"), "date_shift_days": loaded.get("shift_days")}
