"""The README's test command itself: it installs what the tests need, and says plainly what it skips without npm
(or fails with one line when EPIC_MCP_REQUIRE_E2E=1 makes those checks required, as CI does).

Runs a copy of scripts/test in a folder of its own, with stand-ins for the venv's tools and a PATH without npm."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("bash", "cat", "dirname", "tail")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """scripts/test and what it reads, with a venv whose tools only say they ran."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "test", tmp_path / "scripts" / "test")
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for folder in ("inspector", "oauth"):
        (tmp_path / "tests" / folder).mkdir(parents=True)
        shutil.copy2(ROOT / "tests" / folder / "package.json", tmp_path / "tests" / folder / "package.json")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)  # hashes pyproject.toml, then runs `-m pytest --version`
    for tool in ("ruff", "mypy", "lint-imports"):
        (venv / tool).write_text(f"#!/bin/sh\necho {tool} ran\n")
        (venv / tool).chmod(0o755)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (tmp_path / ".venv" / ".installed-test").write_text(digest + "\n")
    return tmp_path


def without_npm(folder: Path) -> str:
    """A PATH with only what scripts/test needs besides npm."""
    folder.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None
        (folder / tool).symlink_to(found)
    return str(folder)


def run(checkout: Path, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(checkout / "scripts" / "test"), "--version"], capture_output=True, text=True,
                          env={"PATH": path, "HOME": str(checkout), **env}, timeout=120, check=False)


def test_without_npm_it_runs_the_rest_and_names_each_check_it_skipped(checkout: Path, tmp_path: Path) -> None:
    result = run(checkout, without_npm(tmp_path / "bin"))
    assert result.returncode == 0, result.stderr
    assert "npm not found: the MCP inspector checks will be skipped" in result.stderr
    assert "npm not found: the OAuth authorization-server checks will be skipped" in result.stderr
    assert {"ruff ran", "mypy ran"} <= set(result.stdout.splitlines()), "lint and types still run"
    assert "pytest" in result.stdout + result.stderr, "and then pytest"


def test_without_npm_a_run_that_requires_the_e2e_checks_fails_with_one_clear_line(checkout: Path,
                                                                                    tmp_path: Path) -> None:
    result = run(checkout, without_npm(tmp_path / "bin"), EPIC_MCP_REQUIRE_E2E="1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "scripts/test: npm not found; EPIC_MCP_REQUIRE_E2E=1 needs the MCP inspector checks: install Node.js "
        "(with npm)"]
    assert "ruff ran" not in result.stdout


def test_an_edited_pyproject_is_installed_again(checkout: Path, tmp_path: Path) -> None:
    """The venv is reinstalled when pyproject.toml differs from what it was installed from, even when the edit
    is older than the last install (a time comparison missed edits made while an install ran)."""
    (checkout / "pyproject.toml").write_text((checkout / "pyproject.toml").read_text() + "\n# edited\n")
    os.utime(checkout / "pyproject.toml", (0, 0))
    fake_python = tmp_path / "fake" / "python"
    fake_python.parent.mkdir()
    fake_python.write_text(f'#!/bin/sh\nif [ "$1 $2" = "-m pip" ]; then echo "pip install $*"; exit 0; fi\n'
                           f'exec {sys.executable} "$@"\n')
    fake_python.chmod(0o755)
    (checkout / ".venv" / "bin" / "python").unlink()
    (checkout / ".venv" / "bin" / "python").symlink_to(fake_python)
    result = run(checkout, without_npm(tmp_path / "bin"))
    assert "pip install -m pip install" in result.stdout and "-e .[test]" in result.stdout


@pytest.mark.parametrize("source", ["TODAY = run_today()", "env = {**pretended_today()}", "date.today()",
                                    "datetime.now(UTC)", 'os.environ["EPIC_TODAY"]', "data_set(day)",
                                    "SekmetServer(folder, [], data=bundled_data)", "unseen_data_set(None)"])
def test_a_test_that_reads_the_clock_or_data_dated_for_today_is_in_the_date_sweep(source: str) -> None:
    from .conftest import depends_on_today

    assert depends_on_today(f"x = 1\n{source}\n")


def test_a_test_with_fixed_dates_only_is_left_out_of_the_date_sweep() -> None:
    from .conftest import depends_on_today

    assert not depends_on_today('TODAY = date(2026, 6, 1)\nrows = eval_data_set()["resources"]\n')
