"""`epic-mcp doctor`: one line per step, exit 0 only when every step passed, never a secret."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from epic_mcp.cli import main

from .conftest import ACCESS_TOKEN, CLIENT_ID, EPIC_BASE, EPIC_TOKEN_URL, token_body
from .sekmet_server import free_port

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
    assert steps == [["ok", "settings"], ["ok", "server"], ["ok", "key"], ["ok", "jwks"], ["ok", "discovery"],
                     ["ok", "token"], ["ok", "scopes"], ["ok", "metadata"]]
    assert any('"typ": "JWT"' in line for line in lines)
    assert any(f'"aud": "{EPIC_TOKEN_URL}"' in line for line in lines)
    assert "FHIR 4.0.1, Epic November 2025" in lines[-1]
    request = metadata.calls.last.request
    assert request.headers["accept"] == "application/fhir+json"
    assert request.headers["epic-client-id"] == CLIENT_ID


def test_doctor_fails_on_invalid_client_with_hints(env_file, epic, capsys) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
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


def test_doctor_names_the_unreachable_server_and_the_fix_in_one_line(env_file, epic, capsys) -> None:
    epic.get(f"{EPIC_BASE}/metadata").mock(side_effect=httpx.ConnectError("down"))
    code = main(["--env-file", str(env_file), "doctor"])
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    assert out.splitlines()[1:] == [f"FAIL  server: no answer from {EPIC_BASE} (ConnectError); check the network and "
                                    "any proxy (HTTPS_PROXY); fhir.epic.com must be reachable"]


def test_doctor_names_the_variable_of_an_unreachable_custom_server(env_file, capsys) -> None:
    base = f"http://127.0.0.1:{free_port()}/fhir"
    env_file.write_text(env_file.read_text() + f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={base}\n")
    code, lines = run_doctor(env_file, capsys)
    assert code == 1 and len(lines) == 2
    assert lines[1].startswith("FAIL  server: no answer from http://127.0.0.1:")
    assert lines[1].endswith("(ConnectError); check EPIC_FHIR_BASE_URL, the network and any proxy (HTTPS_PROXY)")


def test_doctor_names_the_unreachable_token_endpoint(env_file, epic, capsys) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
    epic.post(EPIC_TOKEN_URL).mock(side_effect=httpx.ConnectError("down"))
    code = main(["--env-file", str(env_file), "doctor"])
    out, err = capsys.readouterr()
    assert code == 1 and "WARNING" not in err
    failure = next(line for line in out.splitlines() if line.startswith("FAIL"))
    assert failure.startswith("FAIL  token: the token endpoint could not connect (ConnectError)")
    assert failure.endswith(f"({EPIC_TOKEN_URL}); check EPIC_TOKEN_URL, the network and any proxy")


def test_doctor_on_a_stopped_local_sandbox_says_how_to_start_it(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("EPIC_SANDBOX_PORT", str(free_port()))
    monkeypatch.setenv("EPIC_SANDBOX_DIR", str(tmp_path / "sandbox"))
    code = main(["--env", "local", "doctor"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1 and len(lines) == 2
    assert lines[1].startswith("FAIL  server: no answer from http://127.0.0.1:")
    assert lines[1].endswith("the local sandbox is not running: start it with `epic-mcp sandbox --background` (or "
                             "run `epic-mcp --env local`, which starts it)")


def test_doctor_refuses_the_placeholder_client_id_of_env_example(env_file, capsys) -> None:
    env_file.write_text(env_file.read_text().replace(CLIENT_ID, "your-epic-client-id-here"))
    code, lines = run_doctor(env_file, capsys)
    assert code == 1 and lines == [
        "FAIL  settings: EPIC_CLIENT_ID is still .env.example's placeholder (your-epic-client-id-here): set your "
        "Backend Services app's client id from fhir.epic.com, or try EPIC_ENV=local"]
