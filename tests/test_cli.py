"""The command line: keygen, jwks, --help, and configuration errors as one line on stderr."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from epic_mcp.cli import main

from .conftest import CLIENT_ID


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
                                               ("serve", "Run the MCP server")])
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
