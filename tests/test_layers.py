"""The layers of src/epic_mcp are a contract (pyproject's [tool.importlinter]): import-linter keeps them, and
breaks when a lower layer reaches up or two modules import each other."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          check=False, capture_output=True, text=True, env=env, cwd=src,
                          timeout=120)


@pytest.fixture
def copy_of_src(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src" / "epic_mcp", tmp_path / "epic_mcp",
                    ignore=shutil.ignore_patterns("__pycache__", "*.gz"))
    return tmp_path


def plant(src: Path, module: str, line: str) -> None:
    path = src / "epic_mcp" / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_its_contracts(copy_of_src: Path) -> None:
    result = lint_imports(copy_of_src)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_layers(copy_of_src: Path) -> None:
    plant(copy_of_src, "fhir/paging.py", "from ..answers import summary  # noqa")
    result = lint_imports(copy_of_src)
    assert result.returncode != 0
    assert "Each layer imports only from the layers below it BROKEN" in result.stdout
    assert "epic_mcp.fhir.paging -> epic_mcp.answers.summary" in result.stdout


def test_the_mcp_sdk_outside_the_mcp_facing_layers_breaks_a_contract(copy_of_src: Path) -> None:
    plant(copy_of_src, "answers/latest.py", "import mcp.types  # noqa")
    result = lint_imports(copy_of_src)
    assert "Only the MCP-facing layers (access, serve, cli) import the MCP SDK BROKEN" in result.stdout


def test_two_modules_importing_each_other_break_the_no_circles_contract(copy_of_src: Path) -> None:
    plant(copy_of_src, "serve/state.py", "from . import server  # noqa")
    result = lint_imports(copy_of_src)
    assert "No import circles between the modules of any package BROKEN" in result.stdout
