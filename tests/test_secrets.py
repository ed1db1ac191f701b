"""Secrets and PHI never leak: a canary run over the whole flow, patient data kept out of logs, the audit trail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from mcp import Client

from epic_mcp.auth.keys import KeyRing
from epic_mcp.cli import main
from epic_mcp.doctor import Doctor
from epic_mcp.serve.server import build_server

from .conftest import CLIENT_ID, EPIC_BASE, EPIC_TOKEN_URL, outcome, searchset, token_body
from .test_redaction import ECHOED_TOKENS

pytestmark = pytest.mark.anyio
CANARY_TOKEN = "CANARY-access-token-7f3b9c2e1d"
PID = "eCanaryPatient42"
PATIENT = {"resourceType": "Patient", "id": PID, "name": [{"family": "Zebulonsky", "given": ["Quintessa"]}],
           "birthDate": "1971-03-14", "gender": "female"}
NOTE = "Patient confided a private family matter"
PHI = [PID, "Zebulonsky", "Quintessa", "1971-03-14", NOTE]


def secrets_of(pem: bytes) -> list[str]:
    """The private key's PEM body lines and its private exponent, as they could leak."""
    key = load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    d = key.private_numbers().d
    d_b64 = base64.urlsafe_b64encode(d.to_bytes((d.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
    body_lines = [line for line in pem.decode().splitlines() if not line.startswith("-----")]
    return [CANARY_TOKEN, d_b64[:40], str(d)[:40], *body_lines[2:5]]


def mock_epic(epic, *, patient_status: int = 200) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(access_token=CANARY_TOKEN))
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(patient_status, json=PATIENT)
    epic.get(f"{EPIC_BASE}/Patient").respond(200, json=searchset([PATIENT], total=1))
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset([{
        "resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": f"Patient/{PID}"},
        "code": {"text": "Glucose"}, "valueQuantity": {"value": 99, "unit": "mg/dL"}, "note": [{"text": NOTE}]}],
        total=1))
    epic.get(f"{EPIC_BASE}/Condition").respond(403, json=outcome("error", "forbidden", "4118", "Not authorized"))
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"})


async def whole_flow(server) -> list[str]:
    """Every kind of output a client can see."""
    seen: list[str] = []
    async with Client(server) as client:
        calls = [("search_patients", {"family": "Zebulonsky", "given": "Quintessa", "birthdate": "1971-03-14"}),
                 ("get_patient", {"id": PID}), ("get_patient", {"id": PID, "format": "raw"}),
                 ("search_observations", {"patient_id": PID, "code": "2345-7"}),
                 ("search_conditions", {"patient_id": PID}), ("get_patient", {"id": "../etc"}),
                 ("check_connection", {}), ("next_page", {"cursor": "forged.cursor"})]
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            seen += [block.text for block in result.content] + [json.dumps(result.structured_content)]
        for uri in ("epic://config", "epic://status", "epic://jwks", f"fhir://Patient/{PID}"):
            seen += [c.text for c in (await client.read_resource(uri)).contents]
        seen += [str((await client.list_tools()).tools)]
    return seen


async def test_canary_key_and_token_never_appear_in_logs_results_or_errors(settings, key_file: Path, epic,
                                                                          caplog: pytest.LogCaptureFixture,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    canaries = secrets_of(key_file.read_bytes())
    mock_epic(epic)
    with caplog.at_level(logging.DEBUG):
        seen = await whole_flow(build_server(settings))
        epic.post(EPIC_TOKEN_URL).respond(400, json={"error": "invalid_client", "error_description": None})
        async with Client(build_server(settings)) as client:
            failed = await client.call_tool("get_patient", {"id": PID})
        env_file = key_file.parent.parent / "canary.env"
        env_file.write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file}\n")
        doctor_lines: list[str] = []
        await Doctor(doctor_lines.append).run(str(env_file))
        main(["--env-file", str(env_file), "jwks"])
    captured = capsys.readouterr()
    everything = "\n".join([*seen, failed.content[0].text, caplog.text, captured.out, captured.err,
                            *doctor_lines, repr(settings)])
    assert "invalid_client" in everything and any(line.startswith("FAIL  token") for line in doctor_lines)
    leaked = [canary for canary in canaries if canary in everything]
    assert not leaked


async def test_canary_key_given_inline_never_appears(make_settings, rsa_pem: bytes, epic,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(private_key_path="unused.key", epic_private_key_pem=rsa_pem.decode())
    mock_epic(epic)
    with caplog.at_level(logging.DEBUG):
        seen = await whole_flow(build_server(settings))
    everything = "\n".join([*seen, caplog.text, repr(settings), str(settings.model_dump())])
    assert not [canary for canary in secrets_of(rsa_pem) if canary in everything]


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
async def test_logs_carry_no_patient_data(settings, epic, caplog: pytest.LogCaptureFixture, level: int) -> None:
    mock_epic(epic)
    with caplog.at_level(level):
        await whole_flow(build_server(settings))
    assert "get_patient answered" in caplog.text, "the tools did log"
    assert not [value for value in PHI if value in caplog.text]
    if level == logging.DEBUG:
        assert "GET Patient/* -> 200" in caplog.text, "paths are logged with ids masked"


async def test_below_the_log_level_no_log_record_is_made_on_the_call_path(settings, epic, monkeypatch) -> None:
    """At WARNING (the default) a successful read or search makes no log record and works out nothing for one:
    each record is formatted and redacted when made, which cost a call about a millisecond."""
    mock_epic(epic)
    made: list[str] = []
    make_record = logging.Logger.makeRecord

    def counted(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        made.append(self.name)
        return make_record(self, *args, **kwargs)

    def masked_path(*_: Any) -> str:
        raise AssertionError("the masked path is worked out for a debug line that is not written")

    monkeypatch.setattr(logging.Logger, "makeRecord", counted)
    monkeypatch.setattr("epic_mcp.fhir.client.FhirClient.masked_path", masked_path)
    ours = logging.getLogger("epic_mcp")
    level = ours.level
    ours.setLevel(logging.WARNING)
    try:
        async with Client(build_server(settings)) as client:
            for tool, arguments in (("get_patient", {"id": PID}),
                                    ("search_observations", {"patient_id": PID, "code": "2345-7"})):
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result.content
    finally:
        ours.setLevel(level)
    assert made == []


async def test_audit_log_records_calls_with_an_hmac_instead_of_the_patient_id(make_settings, epic,
                                                                              tmp_path: Path) -> None:
    key = "k" * 40
    audit = tmp_path / "audit" / "calls.jsonl"
    mock_epic(epic)
    server = build_server(make_settings(epic_audit_log=str(audit), epic_audit_hmac_key=key))
    async with Client(server) as client:
        await client.call_tool("get_patient", {"id": PID})
        await client.call_tool("search_observations", {"patient_id": PID, "code": "2345-7"})
        await client.call_tool("search_conditions", {"patient_id": PID})
        await client.call_tool("get_patient", {"id": "../x"})
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    expected = hmac.new(key.encode(), PID.encode(), hashlib.sha256).hexdigest()
    summary = [(e["tool"], e["resource_type"], e["outcome"], e["count"], e["patient"]) for e in lines]
    assert summary == [("get_patient", "Patient", "ok", 1, expected),
                       ("search_observations", "Observation", "ok", 1, expected),
                       ("search_conditions", "Condition", "error", None, expected),
                       ("get_patient", "Patient", "error", None, hmac.new(key.encode(), b"../x",
                                                                         hashlib.sha256).hexdigest())]
    assert all(isinstance(e["latency_ms"], float) and e["time"].endswith("+00:00") for e in lines)
    assert {e["client"] for e in lines} == {"local"}, "in process, as on stdio, the caller is the local user"
    assert not [value for value in PHI if value in audit.read_text()]


def test_audit_log_needs_a_real_key(make_settings, tmp_path: Path) -> None:
    from epic_mcp.errors import ConfigError

    with pytest.raises(ConfigError, match="^EPIC_AUDIT_HMAC_KEY: required with EPIC_AUDIT_LOG"):
        make_settings(epic_audit_log=str(tmp_path / "a.jsonl"), epic_audit_hmac_key="short")



def echoing(text: str) -> dict:
    """An OperationOutcome whose diagnostics echo what the server was sent (a hostile or careless server)."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                            "diagnostics": text, "details": {"text": text}}]}


async def test_a_token_echoed_by_the_server_is_redacted_from_every_output(make_settings, key_file: Path, epic,
                                                                         tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    echo = f"request had Authorization: Bearer {CANARY_TOKEN}; raw {CANARY_TOKEN}"
    jwt_like = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    audit = tmp_path / "audit.jsonl"
    settings = make_settings(epic_audit_log=str(audit), epic_audit_hmac_key="k" * 40)
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(access_token=CANARY_TOKEN))
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(400, json=echoing(echo))
    epic.get(f"{EPIC_BASE}/Patient/eEcho2").respond(200, json={**PATIENT, "id": "eEcho2",
                                                               "name": [{"text": f"{CANARY_TOKEN} {jwt_like}"}]})
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset(
        [{"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": f"Patient/{PID}"},
          "code": {"text": "Glucose"}, "note": [{"text": echo}]}], total=1,
        warnings=[{**echoing(echo), "issue": [{**echoing(echo)["issue"][0], "severity": "warning"}]}]))
    epic.get(f"{EPIC_BASE}/Condition").respond(200, json=echoing(echo))
    epic.get(f"{EPIC_BASE}/Encounter").respond(422, json=echoing(echo))
    epic.get(f"{EPIC_BASE}/metadata").respond(400, json=echoing(echo))
    epic.get(url__startswith=f"{EPIC_BASE}/Patient/").respond(400, json=echoing(echo))  # doctor's test patients
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with Client(build_server(settings)) as client:
            for tool, arguments in [("get_patient", {"id": PID}), ("get_patient", {"id": "eEcho2"}),
                                    ("get_patient", {"id": "eEcho2", "format": "raw"}),
                                    ("search_observations", {"patient_id": PID, "code": "2345-7"}),
                                    ("search_observations", {"patient_id": PID, "code": "2345-7", "format": "raw"}),
                                    ("search_conditions", {"patient_id": PID}),
                                    ("search_encounters", {"patient_id": PID}), ("check_connection", {})]:
                result = await client.call_tool(tool, arguments)
                seen += [block.text for block in result.content] + [json.dumps(result.structured_content)]
            seen += [c.text for c in (await client.read_resource("epic://status")).contents]
            seen += [c.text for c in (await client.read_resource("fhir://Patient/eEcho2")).contents]
            try:
                await client.read_resource(f"fhir://Patient/{PID}")
            except Exception as exc:  # the resource error travels as a protocol error
                seen.append(str(exc))
        env_file = key_file.parent.parent / "echo.env"
        env_file.write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file}\n")
        doctor_lines: list[str] = []
        await Doctor(doctor_lines.append).run(str(env_file))
    everything = "\n".join([*seen, caplog.text, *doctor_lines, audit.read_text()])
    assert everything.count("[redacted]") >= 10, "the echoes reached every output, redacted"
    assert any(line.startswith("FAIL  metadata") and "[redacted]" in line for line in doctor_lines)
    assert any(line.startswith("FAIL  read") and "[redacted]" in line for line in doctor_lines)
    assert CANARY_TOKEN not in everything and jwt_like not in everything


@pytest.mark.parametrize("token", ECHOED_TOKENS.values(), ids=ECHOED_TOKENS)
async def test_a_bearer_token_of_any_encoding_echoed_by_the_server_never_reaches_the_model(settings, epic,
                                                                                          token: str) -> None:
    """Not this app's token (that one is known and redacted as itself): a proxy's or another app's, in the encoding
    its issuer chose."""
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(access_token=CANARY_TOKEN))
    echo = f"upstream refused Authorization: Bearer {token}"
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(400, json=echoing(echo))
    epic.get(f"{EPIC_BASE}/Observation").respond(200, json=searchset(
        [{"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": f"Patient/{PID}"},
          "code": {"text": "Glucose"}, "note": [{"text": echo}]}], total=1))
    async with Client(build_server(settings)) as client:
        refused = await client.call_tool("get_patient", {"id": PID})
        found = await client.call_tool("search_observations", {"patient_id": PID, "code": "2345-7", "format": "raw"})
    seen = [refused.content[0].text, found.content[0].text, json.dumps(found.structured_content)]
    assert refused.is_error and "upstream refused Authorization: [redacted]" in seen[0]
    assert all("Authorization: [redacted]" in text and token not in text for text in seen)
    assert not [part for part in re.split(r"[+/=_.~-]", token) if len(part) >= 6 and any(part in t for t in seen)]


async def test_an_assertion_echoed_by_the_token_endpoint_is_redacted(settings, epic) -> None:
    def echo_assertion(request) -> Any:
        from urllib.parse import parse_qs

        import httpx

        assertion = parse_qs(request.content.decode())["client_assertion"][0]
        return httpx.Response(400, json={"error": "invalid_client", "error_description": f"bad jwt {assertion}"})

    epic.post(EPIC_TOKEN_URL).mock(side_effect=echo_assertion)
    async with Client(build_server(settings)) as client:
        text = (await client.call_tool("get_patient", {"id": PID})).content[0].text
    # The message names the key's kid, a thumbprint of the key made at run time: one kid in about 6,400 holds "eyJ".
    kid = KeyRing.from_settings(settings).active.kid
    assert f"kid {kid} is not in the JWKS" in text
    assert "The server said: bad jwt [redacted]" in text and "eyJ" not in text.replace(kid, "")


async def test_resource_reads_are_audited_like_tool_calls(make_settings, epic, tmp_path: Path) -> None:
    key = "k" * 40
    audit = tmp_path / "reads.jsonl"
    mock_epic(epic)
    epic.get(f"{EPIC_BASE}/Observation/o1").respond(200, json={
        "resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": f"Patient/{PID}"},
        "code": {"text": "Glucose"}})
    epic.get(f"{EPIC_BASE}/Observation/gone").respond(404)
    async with Client(build_server(make_settings(epic_audit_log=str(audit), epic_audit_hmac_key=key))) as client:
        for uri in (f"fhir://Patient/{PID}", "fhir://Observation/o1", "epic://config"):
            await client.read_resource(uri)
        with pytest.raises(Exception, match="no Observation with that id"):
            await client.read_resource("fhir://Observation/gone")
    expected = hmac.new(key.encode(), PID.encode(), hashlib.sha256).hexdigest()
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["tool"], e["resource_type"], e["outcome"], e["patient"]) for e in lines] == [
        ("resource:fhir", "Patient", "ok", expected), ("resource:fhir", "Observation", "ok", expected),
        ("resource:epic", None, "ok", None), ("resource:fhir", "Observation", "failed", None)]
    assert PID not in audit.read_text()


async def test_an_unexpected_failure_in_a_tool_is_one_phi_free_error_with_no_traceback(
        settings, epic, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def crash(resource: dict[str, Any]) -> str:
        raise KeyError(f"{PID} Zebulonsky")

    monkeypatch.setattr("epic_mcp.serve.tools.record_line", crash)
    mock_epic(epic)
    with caplog.at_level(logging.DEBUG):
        async with Client(build_server(settings)) as client:
            failed = await client.call_tool("get_patient", {"id": PID})
            monkeypatch.undo()
            again = await client.call_tool("get_patient", {"id": PID})
    assert failed.is_error and failed.content[0].text.endswith(
        ": epic-mcp could not handle this answer (internal KeyError); try again, and report it if it persists")
    assert "get_patient failed: unexpected KeyError at test_secrets.py:" in caplog.text
    assert "Traceback" not in caplog.text and not [value for value in PHI if value in caplog.text]
    assert not again.is_error, "the session goes on"
