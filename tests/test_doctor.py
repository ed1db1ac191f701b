"""`epic-mcp doctor`: one line per step, every check in one run with the fix for each failure, exit 0 only when
every step passed, never a secret. No request leaves loopback: Epic's hosts are respx mocks."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from epic_mcp.cli import main
from epic_mcp.sandbox import SOFTWARE_NAME

from .conftest import ACCESS_TOKEN, CLIENT_ID, EPIC_BASE, EPIC_TOKEN_URL, token_body
from .sekmet_server import free_port

CAPABILITY = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
              "software": {"name": "Epic", "version": "November 2025"}}
CAMILA = "erXuFYUfucBZaryVksYEcMg3"
EVERY_API = "system/*.read"


@pytest.fixture
def env_file(tmp_path: Path, key_file: Path) -> Path:
    path = tmp_path / "epic.env"
    path.write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file}\n")
    return path


def healthy_epic(epic, scope: str = EVERY_API) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope=scope))
    epic.get(f"{EPIC_BASE}/Patient/{CAMILA}").respond(200, json={"resourceType": "Patient", "id": CAMILA})


def run_doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main([*args, "doctor"])
    captured = capsys.readouterr()
    assert ACCESS_TOKEN not in captured.out + captured.err
    assert "PRIVATE KEY" not in captured.out + captured.err
    return code, captured.out.splitlines()


def steps(lines: list[str]) -> list[tuple[str, str]]:
    """(outcome, step) of each step line, e.g. ("FAIL", "key")."""
    return [(line[:4].strip(), line[6:].split(":")[0]) for line in lines if not line.startswith(" ")]


def step_lines(lines: list[str], outcome: str, name: str) -> list[str]:
    return [line for line in lines if line.startswith(f"{outcome:<4}  {name}:")]


def test_doctor_passes_every_step(env_file, epic, capsys) -> None:
    healthy_epic(epic)
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 0
    assert steps(lines) == [("ok", "settings"), ("ok", "server"), ("ok", "key"), ("ok", "jwks"),
                            ("ok", "discovery"), ("ok", "token"), ("ok", "scopes"), ("ok", "metadata"),
                            ("ok", "read")]
    assert any('"typ": "JWT"' in line for line in lines)
    assert any(f'"aud": "{EPIC_TOKEN_URL}"' in line for line in lines)
    assert "FHIR 4.0.1, Epic November 2025" in step_lines(lines, "ok", "metadata")[0]
    assert step_lines(lines, "ok", "read") == [f"ok    read: Patient/{CAMILA} read with the token"]
    metadata = epic.routes[0].calls.last.request
    assert metadata.headers["accept"] == "application/fhir+json"
    assert metadata.headers["epic-client-id"] == CLIENT_ID
    assert epic.routes[2].calls.last.request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_doctor_fails_on_invalid_client_with_hints(env_file, epic, capsys) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
    epic.post(EPIC_TOKEN_URL).respond(400, json={"error": "invalid_client", "error_description": None})
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    failure = next(line for line in lines if line.startswith("FAIL"))
    assert failure.startswith("FAIL  token:") and "not synced yet" in failure
    assert any("assertion claims" in line for line in lines)
    assert step_lines(lines, "skip", "scopes, metadata, read") == ["skip  scopes, metadata, read: need a token"]


def test_doctor_checks_the_hosted_jwks(env_file, epic, capsys) -> None:
    env_file.write_text(env_file.read_text() + "EPIC_JWKS_URL=https://keys.example.org/jwks.json\n")
    epic.get("https://keys.example.org/jwks.json").respond(200, json={"keys": [{"kid": "someone-else"}]})
    healthy_epic(epic)
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    assert any(line.startswith("FAIL  hosted jwks:") and "does not publish kid" in line for line in lines)


def test_without_a_client_id_doctor_still_checks_the_server_and_the_key(tmp_path: Path, epic, capsys) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
    env_file = tmp_path / "empty.env"
    env_file.write_text("EPIC_ENV=sandbox\n")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    assert lines[0].startswith("FAIL  settings: EPIC_CLIENT_ID is not set")
    assert steps(lines) == [("FAIL", "settings"), ("ok", "server"), ("FAIL", "key"), ("ok", "discovery"),
                            ("skip", "token"), ("skip", "scopes, metadata, read")]
    assert step_lines(lines, "FAIL", "key")[0].endswith("; run `epic-mcp keygen` or fix the path")
    assert step_lines(lines, "skip", "token") == ["skip  token: needs EPIC_CLIENT_ID and a key that loads (see above)"]


def test_doctor_names_the_unreachable_server_and_the_fix_and_checks_the_rest(env_file, epic, capsys) -> None:
    epic.get(f"{EPIC_BASE}/metadata").mock(side_effect=httpx.ConnectError("down"))
    code = main(["--env-file", str(env_file), "doctor"])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert code == 1 and err == ""
    assert step_lines(lines, "FAIL", "server") == [
        f"FAIL  server: no answer from {EPIC_BASE} (ConnectError); check the network and any proxy (HTTPS_PROXY); "
        "fhir.epic.com must be reachable"]
    assert steps(lines)[2:] == [("ok", "key"), ("ok", "jwks"), ("ok", "discovery"), ("skip", "token"),
                                ("skip", "scopes, metadata, read")]
    assert step_lines(lines, "skip", "token") == [
        "skip  token: needs https://fhir.epic.com to answer (see above)"]


def test_doctor_names_the_variable_of_an_unreachable_custom_server(env_file, capsys) -> None:
    base = f"http://127.0.0.1:{free_port()}/fhir"
    env_file.write_text(env_file.read_text() + f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={base}\n")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    server = step_lines(lines, "FAIL", "server")
    assert server[0].startswith("FAIL  server: no answer from http://127.0.0.1:")
    assert server[0].endswith("(ConnectError); check EPIC_FHIR_BASE_URL, the network and any proxy (HTTPS_PROXY)")
    assert step_lines(lines, "skip", "discovery") == [
        "skip  discovery: needs the FHIR server to answer (see above); or set EPIC_TOKEN_URL"]


@pytest.mark.parametrize("mode", [None, 0o644])
def test_offline_doctor_still_reports_a_missing_or_world_readable_key(env_file, key_file, capsys, mode) -> None:
    """Offline (the FHIR base is a closed loopback port), the key's problem is reported beside the server's, as the
    server's own start reports it: the one run names both fixes."""
    if mode is None:
        key_file.unlink()
    else:
        key_file.chmod(mode)
    base = f"http://127.0.0.1:{free_port()}/fhir"
    env_file.write_text(env_file.read_text() + f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={base}\n")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    assert [step for step in steps(lines) if step[0] == "FAIL"] == [("FAIL", "server"), ("FAIL", "key")]
    key = step_lines(lines, "FAIL", "key")[0]
    if mode is None:
        assert key == f"FAIL  key: PRIVATE_KEY_PATH: no key file at {key_file}; run `epic-mcp keygen` or fix the path"
    else:
        assert key == (f"FAIL  key: PRIVATE_KEY_PATH: {key_file} is readable by other users (mode 644); run "
                       f"`chmod 600 {key_file}` (or set EPIC_ALLOW_INSECURE_KEY_FILE=true)")


def test_every_key_file_problem_is_named(env_file, key_file, tmp_path, epic, capsys) -> None:
    healthy_epic(epic)
    open_key = tmp_path / "keys" / "open.key"
    open_key.write_bytes(key_file.read_bytes())
    open_key.chmod(0o640)
    missing = tmp_path / "keys" / "next.key"
    env_file.write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file},{open_key},{missing}\n")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    keys = step_lines(lines, "FAIL", "key")
    assert len(keys) == 2
    assert f"{open_key} is readable by other users (mode 640)" in keys[0] and f"no key file at {missing}" in keys[1]


def test_typos_in_the_settings_file_and_the_environment_are_named_with_the_setting_meant(
        tmp_path: Path, key_file: Path, epic, capsys, monkeypatch) -> None:
    healthy_epic(epic)
    env_file = tmp_path / "epic.env"
    env_file.write_text(f"EPIC_CLEINT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file}\nEPIC_SANBOX_PORT=8791\n")
    monkeypatch.setenv("EPIC_TOOL", "all")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    assert lines[:4] == [
        "FAIL  settings: EPIC_TOOL is not a setting; did you mean EPIC_TOOLS? (in the environment)",
        f"FAIL  settings: EPIC_CLEINT_ID is not a setting; did you mean EPIC_CLIENT_ID? (in {env_file})",
        f"FAIL  settings: EPIC_SANBOX_PORT is not a setting; did you mean EPIC_SANDBOX_PORT? (in {env_file})",
        "FAIL  settings: EPIC_CLIENT_ID is not set: put your Backend Services app's client id in the env file or "
        "the MCP client's `env` (see README, 'Connect to Epic'), or try EPIC_ENV=local"]
    assert ("ok", "key") in steps(lines), "the rest is checked all the same"


def test_invalid_values_are_each_named_and_the_rest_is_checked_with_their_defaults(env_file, key_file, epic,
                                                                                      capsys) -> None:
    healthy_epic(epic)
    key_file.unlink()
    env_file.write_text(env_file.read_text() + "JWT_EXPIRY_MINUTES=10\nEPIC_PAGE_SIZE=lots\nEPIC_TOOLS=core,nope\n")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    settings = step_lines(lines, "FAIL", "settings")
    assert [line.split(":")[1].strip() for line in settings] == ["JWT_EXPIRY_MINUTES", "EPIC_PAGE_SIZE", "EPIC_TOOLS"]
    assert "at most 5" in settings[0] and "EPIC_TOOLS: unknown tool(s) nope" in settings[2]
    assert steps(lines)[3:5] == [("ok", "server"), ("FAIL", "key")]


def test_an_unknown_tool_profile_is_a_settings_failure(env_file, epic, capsys) -> None:
    healthy_epic(epic)
    env_file.write_text(env_file.read_text() + "EPIC_TOOLS=core,nope\n")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    assert step_lines(lines, "FAIL", "settings")[0].startswith("FAIL  settings: EPIC_TOOLS: unknown tool(s) nope;")
    assert [step for step in steps(lines) if step[0] != "ok"] == [("FAIL", "settings")], "the rest passes"


def test_scopes_that_leave_out_an_enabled_tools_api_fail_with_the_apis_to_add(env_file, epic, capsys) -> None:
    healthy_epic(epic, scope="system/Patient.read system/Observation.read system/Condition.read")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    scopes = step_lines(lines, "FAIL", "scopes")[0]
    assert scopes.startswith("FAIL  scopes: the token grants no AllergyIntolerance, Appointment, DiagnosticReport,")
    assert "search_allergies" in scopes and "search_conditions" not in scopes and "get_patient" not in scopes
    assert "add those APIs to the app's registration" in scopes and "leave those tools out of EPIC_TOOLS" in scopes

    env_file.write_text(env_file.read_text() + "EPIC_TOOLS=get_patient,search_observations\n")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 0 and step_lines(lines, "ok", "scopes")


def test_a_fhir_read_the_token_is_refused_fails(env_file, epic, capsys) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body(scope=EVERY_API))
    epic.get(url__startswith=f"{EPIC_BASE}/Patient/").respond(403, json={})
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    assert step_lines(lines, "FAIL", "read")[0].startswith(
        "FAIL  read: none of Epic's test patients could be read with the token; the first said: ")


def test_a_server_that_is_not_the_fhir_base_fails(env_file, epic, capsys) -> None:
    healthy_epic(epic)
    epic.routes[0].respond(404, text="<html>Not Found</html>")
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1
    assert step_lines(lines, "FAIL", "server") == [
        f"FAIL  server: {EPIC_BASE}/metadata answered HTTP 404: this is not the FHIR base; check EPIC_FHIR_BASE_URL "
        "(the FHIR R4 base URL, at Epic ending in /api/FHIR/R4)"]


def test_doctor_names_the_unreachable_token_endpoint(env_file, epic, capsys) -> None:
    epic.get(f"{EPIC_BASE}/metadata").respond(200, json=CAPABILITY)
    epic.post(EPIC_TOKEN_URL).mock(side_effect=httpx.ConnectError("down"))
    code = main(["--env-file", str(env_file), "doctor"])
    out, err = capsys.readouterr()
    assert code == 1 and "WARNING" not in err
    failure = next(line for line in out.splitlines() if line.startswith("FAIL"))
    assert failure.startswith("FAIL  token: the token endpoint could not connect (ConnectError)")
    assert failure.endswith(f"({EPIC_TOKEN_URL}); check EPIC_TOKEN_URL, the network and any proxy")


def local_sandbox_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, port: int) -> Path:
    folder = tmp_path / "sandbox"
    monkeypatch.setenv("EPIC_SANDBOX_PORT", str(port))
    monkeypatch.setenv("EPIC_SANDBOX_DIR", str(folder))
    return folder


def test_doctor_on_a_stopped_local_sandbox_says_how_to_start_it(tmp_path: Path, capsys, monkeypatch) -> None:
    port = free_port()
    folder = local_sandbox_env(monkeypatch, tmp_path, port)
    code, lines = run_doctor(capsys, "--env", "local")
    assert code == 1
    assert steps(lines) == [("ok", "settings"), ("FAIL", "sandbox"), ("FAIL", "key"), ("ok", "discovery"),
                            ("skip", "token"), ("skip", "scopes, metadata, read")]
    assert step_lines(lines, "FAIL", "sandbox") == [
        f"FAIL  sandbox: the local sandbox is not running on port {port}: start it with `epic-mcp sandbox "
        "--background` (or run `epic-mcp --env local`, which starts it)"]
    assert step_lines(lines, "FAIL", "key") == [
        f"FAIL  key: no sandbox client key at {folder}/keys/client.key yet: the sandbox makes it at its first start "
        "(`epic-mcp sandbox --background`, or `epic-mcp --env local`)"]
    assert not folder.exists(), "doctor only looks"


@pytest.fixture
def another_program() -> Iterator[int]:
    """What `python3 -m http.server` on the sandbox's port is: a plain HTTP server answering 404 to FHIR paths."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_port_clash_in_env_local_is_a_failure_with_the_fix_not_an_ok_server(tmp_path: Path, capsys, monkeypatch,
                                                                               another_program: int) -> None:
    local_sandbox_env(monkeypatch, tmp_path, another_program)
    code, lines = run_doctor(capsys, "--env", "local")
    assert code == 1
    assert not [line for line in lines if line.startswith(("ok    server", "ok    sandbox"))]
    sandbox = step_lines(lines, "FAIL", "sandbox")
    assert len(sandbox) == 1 and sandbox[0].startswith(
        f"FAIL  sandbox: port {another_program} on 127.0.0.1 is used by another program (it answers HTTP 404 at "
        "/fhir/metadata, not as the sandbox); set EPIC_SANDBOX_PORT to a free port (for example EPIC_SANDBOX_PORT=")
    assert step_lines(lines, "skip", "token") == [
        f"skip  token: needs a key that loads and http://127.0.0.1:{another_program} to answer (see above)"]


def test_a_sandbox_of_another_folder_on_the_port_is_named(tmp_path: Path, capsys, monkeypatch) -> None:
    class SandboxLike(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"resourceType": "CapabilityStatement", "software": {"name": SOFTWARE_NAME}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SandboxLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        folder = local_sandbox_env(monkeypatch, tmp_path, server.server_address[1])
        code, lines = run_doctor(capsys, "--env", "local")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    assert step_lines(lines, "FAIL", "sandbox")[0].startswith(
        f"FAIL  sandbox: a sandbox started with another EPIC_SANDBOX_DIR serves port {server.server_address[1]}; it "
        f"does not know this folder's ({folder}) key: stop it with `epic-mcp sandbox --stop`")


def test_doctor_refuses_the_placeholder_client_id_of_env_example(env_file, epic, capsys) -> None:
    healthy_epic(epic)
    env_file.write_text(env_file.read_text().replace(CLIENT_ID, "your-epic-client-id-here"))
    code, lines = run_doctor(capsys, "--env-file", str(env_file))
    assert code == 1 and lines[0] == (
        "FAIL  settings: EPIC_CLIENT_ID is still .env.example's placeholder (your-epic-client-id-here): set your "
        "Backend Services app's client id from fhir.epic.com, or try EPIC_ENV=local")
    assert ("ok", "key") in steps(lines)
