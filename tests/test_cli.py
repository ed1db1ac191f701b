"""The command line: keygen, jwks, --help, and configuration errors as one line on stderr."""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from epic_mcp.cli import build_parser, main

from .conftest import CLIENT_ID
from .sekmet_server import free_port
from .terminal import run_on_a_terminal


def test_keygen_writes_a_private_key_and_prints_its_kid(tmp_path: Path, capsys) -> None:
    assert main(["keygen"]) == 0
    out = capsys.readouterr().out
    key = tmp_path / "keys" / "private.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    kid = out.split("kid ")[1].split()[0]
    assert main(["jwks"]) == 0
    assert json.loads(capsys.readouterr().out)["keys"][0]["kid"] == kid
    assert main(["keygen"]) == 2
    assert "--force" in capsys.readouterr().err


def test_keygen_es384_and_jwks_out_file(tmp_path: Path, capsys) -> None:
    assert main(["keygen", "--alg", "ES384", "--out", "keys/ec.key"]) == 0
    (tmp_path / ".env").write_text("PRIVATE_KEY_PATH=keys/ec.key\nEPIC_JWT_ALG=ES384\n")
    assert main(["jwks", "--out", "jwks.json"]) == 0
    jwks = json.loads((tmp_path / "jwks.json").read_text())
    assert jwks["keys"][0]["crv"] == "P-384"
    assert "d" not in jwks["keys"][0]


def test_serve_with_bad_configuration_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / ".env").write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\nJWT_EXPIRY_MINUTES=10\n")
    assert main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("epic-mcp: configuration error: JWT_EXPIRY_MINUTES:") and "\n" not in err


def test_serve_without_a_key_says_how_to_make_one(tmp_path: Path, capsys) -> None:
    (tmp_path / ".env").write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\n")
    assert main(["serve"]) == 2
    assert "epic-mcp keygen" in capsys.readouterr().err


def test_http_transport_refuses_a_public_bind_address(tmp_path: Path, key_file: Path, capsys) -> None:
    (tmp_path / ".env").write_text(f"EPIC_CLIENT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file}\n")
    assert main(["--transport", "streamable-http", "--host", "0.0.0.0"]) == 2
    assert "refusing to serve patient data on 0.0.0.0 without client authentication" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["doctor", "--help"], ["keygen", "--help"]])
def test_help_prints_nothing_to_stdout_at_import_and_documents_settings(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "epic_mcp", *argv], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: epic-mcp"), "something was printed before the help (at import)"
    assert result.stderr == "", "nothing is logged at import"
    assert "--env-file" in result.stdout
    if argv == ["--help"]:
        for setting in ("EPIC_MCP_HTTP_TOKEN", "EPIC_MCP_CLIENTS_FILE", "EPIC_MCP_OAUTH_ISSUER",
                        "EPIC_MCP_RESOURCE_URL", "EPIC_MCP_HTTP_STATELESS", "EPIC_MCP_CURSOR_KEY"):
            assert setting in result.stdout, setting


def test_jwks_after_keygen_es384_needs_no_algorithm_setting(tmp_path: Path, capsys) -> None:
    assert main(["keygen", "--alg", "ES384"]) == 0
    assert "EPIC_JWT_ALG" not in capsys.readouterr().err
    assert main(["jwks"]) == 0
    assert json.loads(capsys.readouterr().out)["keys"][0] | {"x": "", "y": "", "kid": ""} == {
        "kty": "EC", "crv": "P-384", "alg": "ES384", "use": "sig", "x": "", "y": "", "kid": ""}


def test_jwks_piped_into_a_reader_that_stops_early_ends_without_a_traceback(tmp_path: Path, key_file: Path) -> None:
    env = {"PATH": os.environ["PATH"], "PRIVATE_KEY_PATH": str(key_file)}
    result = subprocess.run(f"'{sys.executable}' -m epic_mcp jwks | true", shell=True, env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.stderr == ""


@pytest.mark.parametrize(("command", "says"), [("keygen", "Create a private signing key"),
                                               ("jwks", "Print the public JWK Set"),
                                               ("doctor", "exit 0 only when every step passed"),
                                               ("sandbox", "synthetic data dated relative to today"),
                                               ("serve", "Run the MCP server"),
                                               ("reidentify", "back to the real ids, identifiers and dates"),
                                               ("clients", "Manage the named MCP clients")])
def test_each_command_describes_itself_in_its_help(command: str, says: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert says in " ".join(capsys.readouterr().out.split())


def test_help_names_the_tool_profile_that_is_the_default(capsys) -> None:
    from epic_mcp.settings import Settings

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    tools_help = text[text.index("--tools PROFILE tool profile"):text.index("examples:")]
    assert re.findall(r"(\w+) \(default\)", tools_help) == [Settings.model_fields["epic_tools"].default]


def test_the_server_module_loads_without_httpx_which_waits_for_the_first_connection() -> None:
    """Cold start (bench/cold_start.py, issue 13): httpx and the FHIR client cost ~60 ms and are not needed to
    answer tools/list, so they load with the first connection (and the population tools only when enabled)."""
    code = ("import sys; from epic_mcp.cli import main; from epic_mcp.serve.server import build_server; "
            "print(sorted(m for m in ('httpx', 'epic_mcp.fhir.client', 'epic_mcp.bulk.client') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def served_settings(tmp_path: Path, rsa_pem: bytes) -> dict[str, str]:
    """An environment that starts the stdio server without any network: nothing is fetched before a tool call."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "EPIC_ENV": "custom",
            "EPIC_FHIR_BASE_URL": f"http://127.0.0.1:{free_port()}/fhir", "EPIC_CLIENT_ID": CLIENT_ID,
            "EPIC_PRIVATE_KEY_PEM": rsa_pem.decode()}


def test_a_terminal_user_of_the_stdio_server_sees_one_line_saying_it_waits_for_an_mcp_client(
        tmp_path: Path, rsa_pem: bytes) -> None:
    env = served_settings(tmp_path, rsa_pem)
    run = run_on_a_terminal([sys.executable, "-m", "epic_mcp"], env, tmp_path, wait_for="Ctrl-C stops it")
    assert run.returncode == 0 and run.stdout == "", "stdout is the MCP wire: nothing else goes there"
    assert run.stderr.splitlines() == [
        "epic-mcp: waiting for an MCP client on stdin (this is an MCP server: an MCP client starts it and talks to "
        "it in JSON-RPC); to try it, run it in the MCP inspector: npx @modelcontextprotocol/inspector "
        f"-e EPIC_CLIENT_ID={CLIENT_ID} -e EPIC_ENV=custom -e EPIC_FHIR_BASE_URL={env['EPIC_FHIR_BASE_URL']} "
        f"{sys.executable} -m epic_mcp (add -e EPIC_PRIVATE_KEY_PEM=...), or ./scripts/demo in a checkout; "
        "Ctrl-C stops it"]

    interrupted = run_on_a_terminal([sys.executable, "-m", "epic_mcp"], env, tmp_path, wait_for="Ctrl-C stops it",
                                    ctrl_c=True)
    assert interrupted.returncode == 130 and "Traceback" not in interrupted.stderr, "Ctrl-C stops it, at once"

    piped = subprocess.run([sys.executable, "-m", "epic_mcp"], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60, check=False)
    assert piped.returncode == 0 and "waiting for an MCP client" not in piped.stderr, "an MCP client needs no hint"


def test_a_mistyped_setting_is_named_at_server_start_which_goes_on(tmp_path: Path, rsa_pem: bytes) -> None:
    env = {**served_settings(tmp_path, rsa_pem), "EPIC_TOOL": "all"}
    (tmp_path / ".env").write_text("EPIC_SANBOX_PORT=8791\nepic_log_levl=DEBUG\nDATABASE_URL=another-apps\n")
    result = subprocess.run([sys.executable, "-m", "epic_mcp"], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "epic-mcp: EPIC_TOOL is not a setting; did you mean EPIC_TOOLS? (in the environment)",
        f"epic-mcp: EPIC_SANBOX_PORT is not a setting; did you mean EPIC_SANDBOX_PORT? (in {tmp_path}/.env)",
        f"epic-mcp: epic_log_levl is not a setting; did you mean EPIC_LOG_LEVEL? (in {tmp_path}/.env)"]


def test_a_mistyped_client_id_is_named_before_the_error_it_causes(tmp_path: Path, capsys) -> None:
    (tmp_path / ".env").write_text(f"EPIC_CLEINT_ID={CLIENT_ID}\n")
    assert main([]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"epic-mcp: EPIC_CLEINT_ID is not a setting; did you mean EPIC_CLIENT_ID? (in {tmp_path}/.env)",
        "epic-mcp: configuration error: EPIC_CLIENT_ID is not set: put your Backend Services app's client id in the "
        "env file or the MCP client's `env` (see README, 'Connect to Epic'), or try EPIC_ENV=local"]


@pytest.mark.parametrize("args", [["--env", "local"], ["sandbox", "--background"]])
def test_without_the_sandbox_extra_the_error_gives_a_working_command_and_nothing_is_written(
        tmp_path: Path, capsys, monkeypatch, args: list[str]) -> None:
    from epic_mcp import sandbox

    real_find_spec = sandbox.importlib.util.find_spec
    monkeypatch.setattr(sandbox.importlib.util, "find_spec",
                        lambda name, *rest: None if name == "sekmet" else real_find_spec(name, *rest))
    folder = tmp_path / "sandbox"
    monkeypatch.setenv("EPIC_SANDBOX_DIR", str(folder))
    monkeypatch.setenv("EPIC_SANDBOX_PORT", str(free_port()))
    assert main(args) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "epic-mcp: the `sandbox` extra for the local sandbox is not installed; install it with: "
        f"{sys.executable} -m pip install sekmet-fhir==0.1.1")
    assert not folder.exists(), "no key, lock or folder is written before the failure"


def test_every_command_has_a_description_in_its_help() -> None:
    subcommands = next(action for action in build_parser()._actions
                       if isinstance(action, argparse._SubParsersAction))
    parsers = dict(subcommands.choices)
    clients = next(action for action in parsers["clients"]._actions if isinstance(action, argparse._SubParsersAction))
    parsers.update({f"clients {name}": parser for name, parser in clients.choices.items()})
    undescribed = [name for name, parser in parsers.items() if not (parser.description or "").strip()]
    assert not undescribed, f"`epic-mcp {undescribed[0]} --help` says only its usage"
