"""Least privilege, unit by unit: granted FHIR scopes, OAuth scopes and claims, the patient guard on Epic-shaped
responses, named client credentials, the shared cursor key, and the probes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp import Client

from epic_mcp.access.clients import ClientStore, NamedClients
from epic_mcp.access.oauth import AccessTokenVerifier, tools_for
from epic_mcp.access.patient_scope import AllowlistGuard
from epic_mcp.access.profiles import ALL_TOOLS, CORE
from epic_mcp.errors import ConfigError, FhirError
from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.fhir.paging import CursorCodec, InvalidCursor, Position, cursor_key
from epic_mcp.serve.granted import grants, unauthorized_tools
from epic_mcp.serve.http import allowed_hosts, http_app
from epic_mcp.serve.server import build_server

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, searchset, token_body

pytestmark = pytest.mark.anyio
ALLOWED, OTHER = "erXuFYUfucBZaryVksYEcMg3", "eq081-VQEgP8drUUqCWzHfw3"


def patient(pid: str) -> dict:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": "X"}]}


def observation(oid: str, pid: str) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": {"text": "Glucose"},
            "subject": {"reference": f"Patient/{pid}"}}


# Granted FHIR scopes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("scope", "resource", "interaction", "granted"), [
    ("system/Observation.read", "Observation", "search", True),       # SMART v1
    ("system/Observation.rs", "Observation", "search", True),         # SMART v2
    ("system/Observation.r", "Observation", "search", False),         # v2 read without search
    ("system/Observation.r", "Observation", "read", True),
    ("system/Observation.rs?category=laboratory", "Observation", "search", True),
    ("system/*.read", "Condition", "read", True),
    ("system/*.cruds", "Condition", "search", True),
    ("system/Observation.write", "Observation", "read", False),       # "write" holds an r, but grants no read
    ("system/Patient.read", "Observation", "read", False),
    ("launch/patient", "Patient", "read", False),
])
def test_granted_scopes_in_every_smart_form(scope, resource, interaction, granted) -> None:
    assert grants([scope], resource, interaction) is granted


def test_unknown_or_unlisted_scopes_hide_nothing() -> None:
    assert unauthorized_tools(None) == frozenset() and unauthorized_tools(()) == frozenset()
    hidden = unauthorized_tools(("system/Patient.read",))
    assert "search_observations" in hidden and "get_latest_values" in hidden
    assert not {"get_patient", "search_patients", "patient_summary", "next_page", "check_connection"} & hidden


async def test_a_tool_without_its_scope_is_refused_locally_and_hidden(make_settings, epic) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope="system/Patient.read"))
    epic.get(f"{EPIC_BASE}/Patient/{ALLOWED}").respond(200, json=patient(ALLOWED))
    observations = epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset([]))
    async with Client(build_server(make_settings())) as client:
        before = {t.name for t in (await client.list_tools()).tools}
        await client.call_tool("get_patient", {"id": ALLOWED})
        after = {t.name for t in (await client.list_tools()).tools}
        refused = await client.call_tool("search_observations", {"patient_id": ALLOWED, "category": "laboratory"})
    assert before == set(ALL_TOOLS)
    assert "search_observations" not in after and "get_patient" in after
    assert refused.is_error and "Add the Observation API to the app's registration" in refused.content[0].text
    assert not observations.called, "refused before any request"


async def test_a_token_response_without_scope_hides_nothing(make_settings, epic) -> None:
    body = token_body()
    del body["scope"]
    epic.post(EPIC_TOKEN_URL).respond(200, json=body)
    epic.get(f"{EPIC_BASE}/Patient/{ALLOWED}").respond(200, json=patient(ALLOWED))
    async with Client(build_server(make_settings())) as client:
        await client.call_tool("get_patient", {"id": ALLOWED})
        assert {t.name for t in (await client.list_tools()).tools} == set(ALL_TOOLS)


# OAuth scopes and claims -----------------------------------------------------------------------------------

def test_token_scopes_and_the_tools_claim_choose_the_tools() -> None:
    assert tools_for(["epic-mcp"]) is None, "the base scope alone: every tool the server offers"
    assert tools_for(["epic-mcp", "epic-mcp:core"]) == frozenset(CORE)
    assert tools_for(["epic-mcp:tool:get_patient", "epic-mcp:tool:no_such_tool"]) == {"get_patient"}
    assert tools_for(["epic-mcp"], "core get_coverage") == frozenset(CORE) | {"get_coverage"}
    assert tools_for(["epic-mcp"], ["search_observations"]) == {"search_observations"}
    assert tools_for(["epic-mcp"], "typo") == frozenset(), "a claim that names nothing known grants nothing"
    assert tools_for(["openid", "profile"]) == frozenset()


ISSUER, RESOURCE = "https://login.example.org", "https://mcp.example.org/mcp"


def signing_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


def hs256(claims: dict, secret: bytes) -> str:
    """The algorithm-confusion attack: HMAC-signed with the issuer's public key as the secret."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = json.dumps({"alg": "HS256", "kid": "k1"}).encode()
    signing_input = f"{part(header)}.{part(json.dumps(claims).encode())}"
    return f"{signing_input}.{part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def access_token(key, kid: str, **claims) -> str:
    body = {"iss": ISSUER, "aud": RESOURCE, "exp": int(time.time()) + 300, "client_id": "ward", "scope": "epic-mcp",
            **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def issuer(make_settings, epic):
    """An issuer publishing RFC 8414 metadata and a JWKS (respx); the verifier finds the keys from the metadata."""
    key, jwk = signing_key("k1")
    ec = {"kty": "EC", "crv": "P-256", "kid": "ec1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
          "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
    epic.get(f"{ISSUER}/.well-known/oauth-authorization-server").respond(200, json={
        "issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
    jwks = epic.get(f"{ISSUER}/jwks").respond(200, json={"keys": [jwk, ec]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    return verifier, key, jwk, jwks


async def test_access_tokens_are_checked_like_a_resource_server_must(issuer) -> None:
    verifier, key, _, jwks = issuer
    access = await verifier.verify_token(access_token(key, "k1", patients=[ALLOWED], epic_mcp_tools="core"))
    assert access is not None and access.client_id == "ward" and access.token == ""
    assert access.tools == frozenset(CORE) and access.patients == {ALLOWED} and access.resource == RESOURCE
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    refused = {
        "another audience": access_token(key, "k1", aud="https://other.example.org/mcp"),
        "another issuer": access_token(key, "k1", iss="https://evil.example.org"),
        "expired": access_token(key, "k1", exp=int(time.time()) - 60),
        "no exp": jwt.encode({"iss": ISSUER, "aud": RESOURCE}, key, algorithm="RS256", headers={"kid": "k1"}),
        "signed by another key": access_token(signing_key("k1")[0], "k1"),
        "HS256 with the public key as secret": hs256({"iss": ISSUER, "aud": RESOURCE, "exp": 2**40}, public_pem),
        "unsigned": jwt.encode({"iss": ISSUER, "aud": RESOURCE, "exp": 2**40}, None, algorithm="none",
                               headers={"kid": "k1"}),
        "an EC key named for an RS256 token": access_token(key, "ec1"),
        "not a JWT": "emcp_not-a-jwt",
    }
    for reason, token in refused.items():
        assert await verifier.verify_token(token) is None, reason
    assert jwks.call_count == 1, "known kids need no new fetch"


async def test_an_unknown_kid_fetches_the_keys_again_at_most_once_a_minute(issuer) -> None:
    verifier, key, _, jwks = issuer
    assert await verifier.verify_token(access_token(key, "k1")) is not None
    for _ in range(5):
        assert await verifier.verify_token(access_token(key, "rotated")) is None
    assert jwks.call_count == 1, "tokens with made-up kids cannot make the server hammer the issuer"
    verifier._fetched_at -= 61
    await verifier.verify_token(access_token(key, "rotated"))
    assert jwks.call_count == 2, "a minute later, an unknown kid (a rotated key) is looked up"


async def test_an_issuer_whose_metadata_names_another_issuer_is_not_trusted(make_settings, epic) -> None:
    key, jwk = signing_key("k1")
    epic.get(f"{ISSUER}/.well-known/oauth-authorization-server").respond(200, json={
        "issuer": "https://evil.example.org", "jwks_uri": "https://evil.example.org/jwks"})
    evil = epic.get("https://evil.example.org/jwks").respond(200, json={"keys": [jwk]})
    verifier = AccessTokenVerifier(make_settings(epic_mcp_oauth_issuer=ISSUER, epic_mcp_resource_url=RESOURCE))
    assert await verifier.verify_token(access_token(key, "k1")) is None
    assert not evil.called


# The patient guard on what the FHIR server sends back -------------------------------------------------------

@pytest.fixture
async def guard(settings, epic):
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    connection = EpicConnection.open(settings)
    yield AllowlistGuard(connection.fhir, frozenset({ALLOWED}))
    await connection.aclose()


async def test_a_search_by_identifier_shows_only_allowed_patients_and_no_total(guard, epic) -> None:
    epic.get(f"{EPIC_BASE}/Patient").respond(200, json=searchset([patient(ALLOWED), patient(OTHER)], total=2))
    page = await guard.search("Patient", [("identifier", "203713")], 20)
    bundle = page.bundle
    entries = bundle["entry"]
    assert [e["resource"]["id"] for e in entries if e["resource"]["resourceType"] == "Patient"] == [ALLOWED]
    assert "total" not in bundle and not page.countable
    assert "1 record(s) of patients this MCP client is not allowed to see were withheld" in json.dumps(entries[-1])


async def test_a_count_that_could_include_other_patients_is_not_shown(guard, epic) -> None:
    epic.get(f"{EPIC_BASE}/Patient").respond(200, json=searchset([], total=57))
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset([], total=12))
    patients = await guard.search("Patient", [("family", "Smith"), ("_summary", "count")], 1)
    own = await guard.search("Observation", [("patient", ALLOWED), ("_summary", "count")], 1)
    assert "total" not in patients.bundle and not patients.countable
    assert own.bundle["total"] == 12, "a count scoped to an allowed patient is that patient's"


async def test_reads_of_other_patients_records_are_refused(guard, epic) -> None:
    epic.get(f"{EPIC_BASE}/Observation/o-other").respond(200, json=observation("o-other", OTHER))
    epic.get(f"{EPIC_BASE}/Observation/o-own").respond(200, json=observation("o-own", ALLOWED))
    epic.get(f"{EPIC_BASE}/Provenance/p1").respond(200, json={"resourceType": "Provenance", "id": "p1",
                                                              "target": [{"reference": "Observation/o-other"}]})
    epic.get(f"{EPIC_BASE}/Practitioner/d1").respond(200, json={"resourceType": "Practitioner", "id": "d1"})
    other_patient = epic.get(f"{EPIC_BASE}/Patient/{OTHER}")
    assert (await guard.read("Observation", "o-own"))["id"] == "o-own"
    assert (await guard.read("Practitioner", "d1"))["id"] == "d1", "records about no patient pass"
    for resource_type, resource_id in (("Observation", "o-other"), ("Provenance", "p1"), ("Patient", OTHER)):
        with pytest.raises(FhirError, match="may only see the records of the patients it is allowed"):
            await guard.read(resource_type, resource_id)
    assert not other_patient.called, "another patient's record is not even fetched"


async def test_a_search_naming_another_patient_is_refused_before_it_is_sent(guard, epic) -> None:
    route = epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset([]))
    with pytest.raises(FhirError):
        await guard.search("Observation", [("patient", OTHER), ("category", "laboratory")], 20)
    with pytest.raises(FhirError):
        await guard.follow(httpx.URL(f"{EPIC_BASE}/Observation?subject=Patient/{OTHER}"), "Observation", 20)
    assert not route.called


async def test_a_server_that_ignores_the_patient_filter_leaks_nothing(guard, epic) -> None:
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset(
        [observation("o1", ALLOWED), observation("o2", OTHER)], total=2))
    page = await guard.search("Observation", [("patient", ALLOWED), ("category", "laboratory")], 20)
    ids = [e["resource"].get("id") for e in page.bundle["entry"]]
    assert ids[:1] == ["o1"] and "o2" not in ids and "total" not in page.bundle and not page.countable


# Named client credentials ----------------------------------------------------------------------------------

async def test_named_clients_are_stored_hashed_and_reloaded_on_change(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    store = ClientStore(path)
    secret = store.add("ward", "core", [ALLOWED])
    assert secret.startswith("emcp_") and len(secret) > 40
    assert secret not in path.read_text() and stat.S_IMODE(path.stat().st_mode) == 0o600
    verifier = NamedClients(path)
    access = await verifier.verify_token(secret)
    assert access is not None and access.client_id == "ward" and access.token == ""
    assert access.tools == frozenset(CORE) and access.patients == {ALLOWED}
    assert await verifier.verify_token(secret[:-1]) is None
    second = store.add("pharmacy", "search_medication_requests")
    assert (await verifier.verify_token(second)).tools == {"search_medication_requests"}, "no restart needed"
    store.remove("ward")
    assert await verifier.verify_token(secret) is None, "a removed client is refused at once"


@pytest.mark.parametrize(("name", "tools", "patients", "message"), [
    ("bad name!", "core", None, "NAME: use 1-64 letters"),
    ("ok", "core,no_such_tool", None, "--tools: unknown tool"),
    ("ok", "core", ["../etc"], "--patients is not a FHIR id"),
])
def test_a_bad_client_is_refused_with_the_fix(tmp_path: Path, name, tools, patients, message) -> None:
    with pytest.raises(ConfigError, match=message):
        ClientStore(tmp_path / "clients.json").add(name, tools, patients)


def test_a_clients_file_others_can_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    ClientStore(path).add("ward")
    os.chmod(path, 0o666)
    with pytest.raises(ConfigError, match="writable by other users"):
        NamedClients(path)


# Shared cursor key -----------------------------------------------------------------------------------------

def test_a_cursor_signed_with_the_shared_key_works_on_every_replica() -> None:
    next_url = httpx.URL(f"{EPIC_BASE}/Observation?page=2")
    minted = CursorCodec(EPIC_BASE, cursor_key("s" * 40)).encode(Position("Observation", next_url, ALLOWED, 20))
    assert CursorCodec(EPIC_BASE, cursor_key("s" * 40)).decode(minted).url == next_url
    with pytest.raises(InvalidCursor):
        CursorCodec(EPIC_BASE, cursor_key("t" * 40)).decode(minted)
    with pytest.raises(InvalidCursor):
        CursorCodec(EPIC_BASE).decode(minted)


def test_a_short_cursor_key_is_refused(make_settings) -> None:
    with pytest.raises(ConfigError, match="^EPIC_MCP_CURSOR_KEY: use at least 32"):
        make_settings(epic_mcp_cursor_key="short")


def test_oauth_needs_the_resource_url_and_keeps_the_issuer_as_written(make_settings) -> None:
    with pytest.raises(ConfigError, match="^EPIC_MCP_RESOURCE_URL: required with EPIC_MCP_OAUTH_ISSUER"):
        make_settings(epic_mcp_oauth_issuer="https://login.example.org/")
    settings = make_settings(epic_mcp_oauth_issuer="https://login.example.org/",
                             epic_mcp_resource_url="https://mcp.example.org/mcp/")
    assert settings.epic_mcp_oauth_issuer == "https://login.example.org/", "iss is compared as an exact string"
    assert settings.epic_mcp_resource_url == "https://mcp.example.org/mcp"


def test_the_public_host_of_the_resource_url_passes_dns_rebinding_protection(make_settings) -> None:
    settings = make_settings(epic_mcp_oauth_issuer="https://login.example.org",
                             epic_mcp_resource_url="https://mcp.example.org/mcp")
    assert "mcp.example.org" in allowed_hosts(settings, "10.0.0.5", 8000)
    assert "evil.example.org" not in allowed_hosts(settings, "10.0.0.5", 8000)


# Probes ----------------------------------------------------------------------------------------------------

async def test_probes_answer_without_a_token_and_without_details(make_settings) -> None:
    token = "t" * 40
    settings = make_settings(epic_mcp_http_token=token)
    server = build_server(settings)
    app = http_app(server, settings, "127.0.0.1", 8000)
    async with server.session_manager.run(), httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                                               base_url="http://127.0.0.1:8000") as http:
        health, ready = await http.get("/healthz"), await http.get("/readyz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {
        "ready": True, "checks": {"server": "running", "connection": "built", "access_token": "not requested yet"}}
    assert token not in ready.text and "http" not in ready.text


async def test_readyz_is_503_when_the_server_is_not_running(make_settings) -> None:
    settings = make_settings()
    app = http_app(build_server(settings), settings, "127.0.0.1", 8000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8000") as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["server"] == "not running"



def test_the_clients_command_prints_the_secret_once_and_never_lists_it(tmp_path: Path, key_file, capsys) -> None:
    from epic_mcp.cli import main

    env = tmp_path / "settings.env"
    env.write_text(f"PRIVATE_KEY_PATH={key_file}\nEPIC_MCP_CLIENTS_FILE=clients.json\n")
    assert main(["--env-file", str(env), "clients", "add", "ward", "--tools", "clinical"]) == 0
    secret = capsys.readouterr().out.splitlines()[-1]
    assert main(["--env-file", str(env), "clients", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ward\ttools=clinical\tany patient" in listed and secret not in listed
    assert main(["--env-file", str(env), "clients", "remove", "ward"]) == 0
    assert main(["--env-file", str(env), "clients", "remove", "ward"]) == 2
    assert "no client named ward" in capsys.readouterr().err


def test_the_clients_command_needs_the_file_setting(tmp_path: Path, capsys) -> None:
    from epic_mcp.cli import main

    assert main(["clients", "list"]) == 2
    assert "EPIC_MCP_CLIENTS_FILE is not set" in capsys.readouterr().err
