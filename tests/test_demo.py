"""scripts/demo.py as a newcomer runs it: from a checkout with a .env made from .env.example it still answers, and
whatever goes wrong ends in one line and an exit code, never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import pretended_today
from .sekmet_server import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent


def run_demo(checkout: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(checkout / "home"), "EPIC_SANDBOX_DIR": str(checkout / "sandbox"),
           "EPIC_SANDBOX_PORT": str(port), **pretended_today()}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_demo_answers_from_a_checkout_with_a_dot_env_made_from_env_example(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = run_demo(tmp_path, free_port())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Every answer above came from epic-mcp's tools" in result.stdout
    assert "every date moved" in result.stdout and "Upcoming appointments" in result.stdout
    assert "`source .venv/bin/activate` puts the `epic-mcp` command on your PATH" in result.stdout


def test_a_busy_port_ends_the_demo_in_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_demo(tmp_path, busy.getsockname()[1])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "ExceptionGroup" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert "EPIC_SANDBOX_PORT" in lines[0] and lines[-1].startswith("demo: the epic-mcp server stopped")
    assert len(lines) == 2, result.stderr


def test_bad_settings_end_the_demo_in_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("JWT_EXPIRY_MINUTES=10\n")
    result = run_demo(tmp_path, free_port())
    assert result.returncode == 2
    assert result.stderr.strip().startswith("demo: configuration error: JWT_EXPIRY_MINUTES:")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
