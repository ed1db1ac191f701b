"""README, .env.example and the catalog agree with the code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from epic_mcp import __version__
from epic_mcp.fhir.catalog import CATALOG, markdown_table
from epic_mcp.serve.server import build_server
from epic_mcp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()


def test_readme_tool_table_is_generated_from_the_catalog() -> None:
    table = README.split("<!-- tool-table:begin -->\n")[1].split("\n<!-- tool-table:end -->")[0]
    assert table == markdown_table(), "run scripts/update-readme"


@pytest.mark.anyio
async def test_every_registered_tool_is_in_the_catalog_or_documented(settings) -> None:
    tools = {tool.name for tool in await build_server(settings).list_tools()}
    catalog = {op.tool for op in CATALOG}
    assert catalog <= tools
    tools_section = README.split("\n## Tools\n")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", tools_section, flags=re.M))
    assert tools == documented


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    fields = {name.upper() for name in Settings.model_fields if name != "config_dir"}
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, flags=re.M))
    assert listed == fields


def test_readme_quick_start_is_the_two_commands_ci_runs() -> None:
    quick_start = README.split("## Quick start")[1].split("###")[0]
    commands = re.findall(r"```bash\n(.+?)\n```", quick_start)
    assert commands == ["./scripts/demo", "./scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("./scripts/test") < ci.index("./scripts/demo")
    for command in commands:
        assert (ROOT / command).stat().st_mode & 0o111


def test_every_test_security_md_cites_exists() -> None:
    security = (ROOT / "SECURITY.md").read_text()
    cited = re.findall(r"`(test_\w+\.py)(?:::(test_\w+))?", security)
    assert len(cited) > 10
    for module, name in cited:
        found = list((ROOT / "tests").rglob(module))
        assert len(found) == 1, f"SECURITY.md cites {module}, which is not one test module"
        source = found[0].read_text()
        assert not name or f"def {name}(" in source, f"SECURITY.md cites {module}::{name}, which does not exist"


def test_env_example_loads_as_valid_settings() -> None:
    from epic_mcp.settings import load_settings

    settings = load_settings(ROOT / ".env.example")
    assert settings.epic_env == "sandbox" and settings.epic_client_id == "your-epic-client-id-here"
    assert settings.key_paths == [ROOT / "keys" / "private.key"]


def test_server_json_for_the_mcp_registry_matches_the_package() -> None:
    import json
    import tomllib

    server = json.loads((ROOT / "server.json").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert server["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert server["name"].count("/") == 1 and len(server["description"]) <= 100
    assert f"<!-- mcp-name: {server['name']} -->" in README, "PyPI ownership check of the MCP registry"
    (package,) = server["packages"]
    assert (package["registryType"], package["identifier"]) == ("pypi", project["name"])
    assert server["version"] == package["version"] == project["version"]
    assert package["transport"] == {"type": "stdio"}
    fields = {name.upper() for name in Settings.model_fields}
    assert {variable["name"] for variable in package["environmentVariables"]} <= fields
    environments = next(v for v in package["environmentVariables"] if v["name"] == "EPIC_ENV")["choices"]
    assert set(environments) == set(Settings.model_fields["epic_env"].annotation.__args__)
    defaults = {v["name"]: v["default"] for v in package["environmentVariables"] if "default" in v}
    assert defaults == {name: Settings.model_fields[name.lower()].default for name in defaults}


def test_the_quick_start_says_how_to_get_the_epic_mcp_command_the_readme_uses(tmp_path: Path) -> None:
    """After the quick start, `epic-mcp keygen` (as the README writes it) must be found: the quick start says how to
    put the checkout's .venv/bin on PATH, and that instruction works."""
    quick_start = README.split("## Quick start")[1].split("###")[0]
    activate = re.search(r"`(source [^`]+)` puts it on your PATH", quick_start)
    assert activate, "the quick start says how to get the `epic-mcp` command on PATH"
    assert re.search(r"^epic-mcp keygen", README, flags=re.M), "the README's commands call it epic-mcp"
    if not (ROOT / ".venv" / "bin" / "epic-mcp").exists():
        pytest.skip("this checkout has no .venv (./scripts/demo and ./scripts/test make it)")
    result = subprocess.run(["bash", "-c", f"{activate.group(1)} && command -v epic-mcp && epic-mcp --version"],
                            cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(ROOT / ".venv" / "bin" / "epic-mcp"), f"epic-mcp {__version__}"]


def test_the_troubleshooting_page_describes_every_step_doctor_reports() -> None:
    steps = set(re.findall(r'self\.record\("([a-z ]+)"', (ROOT / "src" / "epic_mcp" / "doctor.py").read_text()))
    assert {"settings", "server", "sandbox", "key", "token", "scopes", "read"} <= steps
    table = (ROOT / "docs" / "troubleshooting.md").read_text().split("## What doctor checks")[1].split("\n## ")[0]
    described = {name for cell in re.findall(r"^\| ([^|]+) \|", table, flags=re.M)
                 for name in re.findall(r"`([a-z ]+)`", cell)}
    assert steps <= described, f"docs/troubleshooting.md does not describe {sorted(steps - described)}"
    assert "[docs/troubleshooting.md](docs/troubleshooting.md)" in README
