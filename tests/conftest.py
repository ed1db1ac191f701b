"""Shared fixtures: an isolated environment, keys made at run time, Epic-shaped responses."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import settings as hypothesis_settings

from epic_mcp.settings import SANDBOX_FHIR_BASE_URL, SANDBOX_TOKEN_URL, Settings, load_settings

EPIC_BASE = SANDBOX_FHIR_BASE_URL
EPIC_TOKEN_URL = SANDBOX_TOKEN_URL
CLIENT_ID = "a1b2c3d4-0000-4000-8000-epicmcptests"
ACCESS_TOKEN = "epic-access-token-CANARY-5f2d9c1e"
EPIC_OID = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"
SETTINGS_PREFIXES = ("EPIC_", "PRIVATE_KEY_PATH", "PRODUCTION_", "JWT_EXPIRY")
# The one setting a whole run may pretend with (`EPIC_TODAY=2028-11-28 ./scripts/test`): what is recent or
# upcoming, and how the sandbox data is dated, move with it in the code and in the tests alike.
KEPT_SETTINGS = ("EPIC_TODAY",)


# A test module that names one of these depends on today's date (the clock, or data dated for today): it is marked
# `dated`, and scripts/test-dates runs every such test "as of" each day of a sweep (CI does, after scripts/test).
DATED = re.compile(r"\b(?:run_today|pretended_today|date\.today|datetime\.now|datetime\.utcnow|"
                   r"EPIC_TODAY|data_set|LoadedSekmet|loaded_sekmet|local_sandbox|bundled_data|sandbox_data|"
                   r"unseen_data_set|load_unseen_data|heavy_patient)\b")


def depends_on_today(source: str) -> bool:
    return DATED.search(source) is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    dated: dict[Path, bool] = {}
    for item in items:
        if item.path not in dated:
            dated[item.path] = depends_on_today(item.path.read_text())
        if dated[item.path]:
            item.add_marker(pytest.mark.dated)
    # The end-to-end tests first (in their order), the quick ones after: run in parallel (scripts/test), the slow
    # ones start early and the quick ones fill in, instead of one slow test starting last.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


MODULE_FIXTURE = re.compile(r"""@pytest\.fixture\(scope=["']module["']""")


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (scripts/test): the tests of a module that defines a module-scoped fixture (a server, a
    whole evaluation run) go to one worker, so the fixture is set up once, not once per worker; every other test
    goes wherever a worker is free. pytest-xdist's own loadgroup reads xdist_group marks, which pytest 9.2 loses
    on the way to the scheduler (pytest-xdist#1386), so the groups are found here, in the modules' source."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    grouped: dict[str, bool] = {}

    class ModuleFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module not in grouped:
                path = config.rootpath / module
                grouped[module] = path.is_file() and MODULE_FIXTURE.search(path.read_text()) is not None
            return module if grouped[module] else nodeid

    return ModuleFixtureScheduling(config, log)


def pretended_today() -> dict[str, str]:
    """EPIC_TODAY for the servers a test starts with an environment of its own, when the run pretends; and the
    run's TZ, when it has one, so that such a server's today is the test's (without it, a TZ in the developer's
    environment put the server on another day than run_today() for the hours the two zones' dates differ)."""
    zone = {"TZ": os.environ["TZ"]} if os.environ.get("TZ") else {}
    return {**zone, "EPIC_TODAY": run_today().isoformat()} if os.environ.get("EPIC_TODAY", "").strip() else zone


def run_today() -> date:
    """Today as this run pretends it (EPIC_TODAY, YYYY-MM-DD, as Settings.today() reads it), else today."""
    pretended = os.environ.get("EPIC_TODAY", "").strip()
    return date.fromisoformat(pretended) if pretended else date.today()

def report_path(name: str, tmp_path: Path) -> Path:
    """Where an evaluation test writes its report: a temporary folder, unless scripts/phi-reports asks for docs/
    (EPIC_MCP_REPORTS_DIR). Tests never rewrite tracked files by themselves."""
    folder = os.environ.get("EPIC_MCP_REPORTS_DIR", "").strip()
    return (Path(folder) if folder else tmp_path) / name

# CI runs the same generated examples every time (a failure there is reproducible) and keeps no example database
# (no state carried from one CI run to the next); local runs explore anew, replay their own failures from
# .hypothesis/ (git-ignored), and EPIC_MCP_PROPERTY_EXAMPLES=400 explores deeper.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer settings leak in: no EPIC_* variables, and a working directory without .env."""
    for name in list(os.environ):
        if name.upper().startswith(SETTINGS_PREFIXES) and name.upper() not in KEPT_SETTINGS:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def fresh_pure_caches() -> None:
    """Each test computes what the caches of pure functions hold (compiled PHI patterns, unauthorized tools): a
    result an earlier test left, or one mutmut's own first run left in the process it forks each mutant's run
    from, would stand in for the code under test (every mutant of the PHI scrub's pattern builders survived so)."""
    from epic_mcp.phi.scrub import _compiled
    from epic_mcp.serve.granted import unauthorized_tools

    _compiled.cache_clear()
    unauthorized_tools.cache_clear()


@pytest.fixture(scope="session")
def rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
def key_file(tmp_path: Path, rsa_pem: bytes) -> Path:
    path = tmp_path / "keys" / "private.key"
    path.parent.mkdir()
    path.write_bytes(rsa_pem)
    path.chmod(0o600)
    return path


@pytest.fixture
def make_settings(key_file: Path):
    def make(**overrides: Any) -> Settings:
        # Every tool: the tests exercise the whole catalog (the default profile, core, has its own test).
        values: dict[str, Any] = {"epic_client_id": CLIENT_ID, "private_key_path": str(key_file), "epic_tools": "all"}
        values.update(overrides)
        return load_settings(None, **values)

    return make


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


def token_body(**overrides: Any) -> dict[str, Any]:
    body = {"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600,
            "scope": "system/Patient.read system/Observation.read"}
    body.update(overrides)
    return body


def outcome(severity: str, code: str, epic_code: str, text: str) -> dict[str, Any]:
    """An Epic-shaped OperationOutcome."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code,
                   "details": {"coding": [{"system": EPIC_OID, "code": epic_code, "display": text}], "text": text},
                   "diagnostics": text}],
    }


CAPABILITY = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "kind": "instance",
              "rest": [{"mode": "server", "resource": [{"type": "Observation", "searchParam": [
                  {"name": "patient", "type": "reference"}, {"name": "category", "type": "token"},
                  {"name": "code", "type": "token"}, {"name": "date", "type": "date"}]}]}]}


def searchset(resources: list[dict[str, Any]], total: int | None = None, next_url: str | None = None,
              warnings: list[dict[str, Any]] = ()) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle", "type": "searchset",
        "entry": [{"fullUrl": f"{EPIC_BASE}/{r['resourceType']}/{r['id']}", "resource": r,
                   "search": {"mode": "match"}} for r in resources]
        + [{"resource": w, "search": {"mode": "outcome"}} for w in warnings],
        "link": [{"relation": "self", "url": f"{EPIC_BASE}/search"}],
    }
    if total is not None:
        bundle["total"] = total
    if next_url:
        bundle["link"].append({"relation": "next", "url": next_url})
    return bundle


@pytest.fixture
def epic() -> Iterator[respx.MockRouter]:
    """respx router for Epic's sandbox hosts; any request it does not know fails the test, none leaves. Its
    CapabilityStatement offers no `_sort` (as Epic's): a test that needs another mocks the same URL, which
    replaces this answer."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
        yield router


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def loaded_data(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The run's loaded sekmet data folders (tests/sekmet_data.py), shared by the xdist workers of one run."""
    from .sekmet_data import LoadedData, shared_root

    return LoadedData(shared_root(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session")
def bundled_data(loaded_data: Any) -> Path:
    """A sekmet data folder with the bundled data set dated for the run's today: `SekmetServer(..., data=...)`."""
    from epic_mcp.sandbox import data_set

    return loaded_data.folder("bundled", data_set(run_today())["resources"])


@pytest.fixture(scope="session")
def sandbox_data(loaded_data: Any) -> Path:
    """The local sandbox's data folder as `epic-mcp sandbox` loads it for the run's today (the data set, the Group of
    its patients and the marker saying so): a sandbox folder whose data/ is a copy of it starts without loading."""
    from epic_mcp.sandbox import data_set

    data = data_set(run_today())
    return loaded_data.sandbox(data["resources"], data["patients"], run_today().isoformat())


@pytest.fixture(scope="session")
def loaded_sekmet(tmp_path_factory: pytest.TempPathFactory, bundled_data: Path) -> Iterator[Any]:
    """One sekmet-fhir with the bundled data for the HTTP end-to-end tests (tests/http_servers.py)."""
    from .http_servers import LoadedSekmet

    sekmet = LoadedSekmet(tmp_path_factory.mktemp("http-sekmet"), bundled_data).start()
    yield sekmet
    sekmet.stop()
