"""The README is a short guide that cannot drift: at most 300 lines, a client's configuration within the first 120,
every link to a page that exists, its tool table and figures generated from the code (scripts/update-readme), and
every other figure tied to the code or document it comes from."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
GENERATED = ("tool-table", "tool-counts", "evals-scoreboard", "population-scoreboard")


def source(path: str) -> str:
    return (ROOT / path).read_text()


# Every figure the README states outside its generated blocks, and the check that ties it to where it comes from.
# A new figure fails test_every_figure_is_tied_to_its_source until it is added here with its source.
FIGURES: dict[str, Callable[[], bool]] = {
    "3.11": lambda: tomllib.loads(source("pyproject.toml"))["project"]["requires-python"] == ">=3.11",
    "127.0.0.1": lambda: 'f"http://127.0.0.1:{self.epic_sandbox_port}"' in source("src/epic_mcp/settings.py"),
    "0600": lambda: "os.open(path, flags, 0o600)" in source("src/epic_mcp/auth/keys.py"),
    "401": lambda: "if response.status_code == 401:" in source("src/epic_mcp/auth/token.py"),
    "30": lambda: "has not synced yet (30 minutes to several hours" in source("src/epic_mcp/auth/token.py"),
    "2.0": lambda: "Version 2.0" in source("LICENSE") and "OAuth 2.0" in source("../shared/epic-reference.md")
    if (ROOT.parent / "shared").exists() else "Version 2.0" in source("LICENSE"),
}


def prose() -> str:
    """The README without its generated blocks, code blocks, HTML tags, link targets and list numbers."""
    text = README
    for name in GENERATED:
        text = re.sub(f"<!-- {name}:begin -->.*?<!-- {name}:end -->", "", text, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"https?://\S+", "", text)
    return re.sub(r"^\d+\. ", "", text, flags=re.M)


def test_the_readme_is_a_short_guide_with_a_client_configuration_early() -> None:
    lines = README.splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail to docs/"
    first = "\n".join(lines[:120])
    assert '"mcpServers"' in first and "## Connect your client" in first


def test_the_generated_parts_are_what_the_code_generates() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "update-readme"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for name in GENERATED:
        block = README.split(f"<!-- {name}:begin -->")[1].split(f"<!-- {name}:end -->")[0]
        assert block.strip(), f"the {name} block is empty"


def test_every_figure_is_tied_to_its_source() -> None:
    found = set(re.findall(r"(?<![\w.])\d+(?:[.,]\d+)*", prose()))
    assert found <= set(FIGURES), f"figures with no source in tests/test_readme.py: {sorted(found - set(FIGURES))}"
    stale = [figure for figure in found if not FIGURES[figure]()]
    assert not stale, f"these README figures no longer match their source: {stale}"


def test_every_link_leads_to_a_file_that_exists() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README) + re.findall(r'(?:src|href)="([^"#]+)"', README)
    local = [t for t in targets if not t.startswith(("http://", "https://", "mailto:"))]
    assert len(local) > 15
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing


def outside_code(markdown: str) -> str:
    """The text of a Markdown page without its code blocks and code spans, where `[a](b)` is no link."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"^\s*```.*?^\s*```", "", markdown, flags=re.S | re.M))


def test_the_docs_pages_link_to_pages_that_exist() -> None:
    broken = []
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", outside_code(page.read_text())):
            if not target.startswith(("http://", "https://", "mailto:")) and not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert not broken, broken


def test_the_readme_tells_no_project_history() -> None:
    for phrase in ("original FastAPI", "newcomer", "2026-07-28 clients", "issue 1", "issue 2", "was "):
        assert phrase not in prose(), phrase
