"""`epic-mcp doctor`: one line per step, exit 0 only when every step passed, never a secret."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from epic_mcp.cli import main

from .conftest import ACCESS_TOKEN, CLIENT_ID, EPIC_BASE, EPIC_TOKEN_URL, token_body

CAPABILITY = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
              "software": {"name": "Epic", "version": "November 2025"}}


@pytest.fixture
def env_file(tmp_path: Path, key_file: Path) -> Path:
    path = tmp_path / "epic.env"
    path.write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file}\n")
    return path


def run_doctor(env_file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["--env-file", str(env_file), "doctor"])
    captured = capsys.readouterr()
    assert ACCESS_TOKEN not in captured.out + captured.err
    assert "PRIVATE KEY" not in captured.out + captured.err
    return code, captured.out.splitlines()


def test_doctor_passes_every_step(env_file, epic, capsys) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    metadata = epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
    code, lines = run_doctor(env_file, capsys)
    assert code == 0
    steps = [line.split(":")[0].split(None, 1) for line in lines if not line.startswith(" ")]
    assert steps == [["ok", "settings"], ["ok", "key"], ["ok", "jwks"], ["ok", "discovery"], ["ok", "token"],
                     ["ok", "scopes"], ["ok", "metadata"]]
    assert any('"typ": "JWT"' in line for line in lines)
    assert any(f'"aud": "{EPIC_TOKEN_URL}"' in line for line in lines)
    assert "FHIR 4.0.1, Epic November 2025" in lines[-1]
    request = metadata.calls.last.request
    assert request.headers["accept"] == "application/fhir+json"
    assert request.headers["epic-client-id"] == CLIENT_ID


def test_doctor_fails_on_invalid_client_with_hints(env_file, epic, capsys) -> None:
    epic.post(EPIC_TOKEN_URL).respond(400, json={"error": "invalid_client", "error_description": None})
    code, lines = run_doctor(env_file, capsys)
    assert code == 1
    failure = next(line for line in lines if line.startswith("FAIL"))
    assert failure.startswith("FAIL  token:") and "not synced yet" in failure
    assert any("assertion claims" in line for line in lines)


def test_doctor_checks_the_hosted_jwks(env_file, epic, capsys) -> None:
    env_file.write_text(env_file.read_text() + "EPIC_JWKS_URL=https://keys.example.org/jwks.json\n")
    epic.get("https://keys.example.org/jwks.json").respond(200, json={"keys": [{"kid": "someone-else"}]})
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
    code, lines = run_doctor(env_file, capsys)
    assert code == 1
    assert any(line.startswith("FAIL  hosted jwks:") and "does not publish kid" in line for line in lines)


def test_doctor_reports_configuration_problems(tmp_path: Path, capsys) -> None:
    env_file = tmp_path / "empty.env"
    env_file.write_text("EPIC_ENV=sandbox\n")
    code, lines = run_doctor(env_file, capsys)
    assert code == 1
    assert lines == [lines[0]] and lines[0].startswith("FAIL  settings: EPIC_CLIENT_ID is not set")


def test_doctor_reports_an_unreachable_fhir_server(env_file, epic, capsys) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/metadata").mock(side_effect=httpx.ConnectError("down"))
    code, lines = run_doctor(env_file, capsys)
    assert code == 1 and lines[-1].startswith("FAIL  metadata: could not reach the FHIR server")
