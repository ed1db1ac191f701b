"""The sandbox's lifecycle as a newcomer meets it: --stop signals only our sandbox, Ctrl-C leaves nothing behind,
two MCP clients starting `--env local` at once share one sandbox, a `.env` made from .env.example does not get in
the way, and a busy port is named in one line."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from epic_mcp.sandbox import LAUNCHER, is_serving
from epic_mcp.sandbox.lifecycle import command_line

from ..conftest import pretended_today
from ..sekmet_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
           "EPIC_SANDBOX_DIR": str(tmp_path / "sandbox"), "EPIC_SANDBOX_PORT": str(free_port()), **pretended_today()}
    yield env
    subprocess.run([sys.executable, "-m", "epic_mcp", "sandbox", "--stop"], env=env, capture_output=True,
                   timeout=60, check=False)


def epic_mcp(env: dict[str, str], *args: str, cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "epic_mcp", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd)


def sandboxes_of(folder: Path) -> list[int]:
    """Every live sekmet launched with this sandbox folder's config."""
    config = str(folder / "sekmet.json")
    return [int(pid) for pid in os.listdir("/proc") if pid.isdigit()
            and (line := command_line(int(pid))) and LAUNCHER in line and config in line]


def wait_for_output(process: subprocess.Popen[str], text: str, timeout: float = 60) -> None:
    """Until the process has written `text` to its stdout (read unbuffered, so nothing waits in a buffer)."""
    assert process.stdout is not None
    deadline, seen = time.monotonic() + timeout, ""
    while text not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0 and select.select([process.stdout], [], [], remaining)[0], f"timed out: {seen!r}"
        chunk = os.read(process.stdout.fileno(), 4096).decode()
        assert chunk, f"exited before writing {text!r}: {seen!r}"
        seen += chunk


def test_stop_never_signals_a_process_that_is_not_this_sandbox(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    folder = Path(sandbox_env["EPIC_SANDBOX_DIR"])
    folder.mkdir()
    other_config = str(tmp_path / "elsewhere" / "sekmet.json")
    bystanders = [subprocess.Popen(["sleep", "60"]),  # an unrelated process that reused the pid
                  subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", LAUNCHER, other_config])]
    try:
        for bystander in bystanders:
            (folder / "sekmet.pid").write_text(str(bystander.pid))
            result = epic_mcp(sandbox_env, "sandbox", "--stop")
            assert result.returncode == 0 and result.stdout.strip() == "sandbox was not running"
            assert bystander.poll() is None, "the process named by a stale pid file must live on"
            assert not (folder / "sekmet.pid").exists(), "the stale pid file is removed"
    finally:
        for bystander in bystanders:
            bystander.kill()
            bystander.wait()


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_foreground_sandbox_stopped_by_ctrl_c_or_sigterm_leaves_no_pid_file(sandbox_env: dict[str, str],
                                                                            sandbox_data: Path, how: str) -> None:
    folder, base = Path(sandbox_env["EPIC_SANDBOX_DIR"]), f"http://127.0.0.1:{sandbox_env['EPIC_SANDBOX_PORT']}/fhir"
    shutil.copytree(sandbox_data, folder / "data")  # loaded already (the first start's load is tested elsewhere)
    foreground = subprocess.Popen([sys.executable, "-m", "epic_mcp", "sandbox"], env=sandbox_env, cwd="/",
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for_output(foreground, "press Ctrl-C to stop")  # what the user waits for before pressing it
        assert (folder / "sekmet.pid").exists() and is_serving(base)
        if how == "ctrl-c":
            os.killpg(foreground.pid, signal.SIGINT)  # the terminal signals the whole foreground group
        else:
            foreground.send_signal(signal.SIGTERM)  # a supervisor signals the command only
        assert foreground.wait(timeout=30) == 0, foreground.stderr.read() if foreground.stderr else ""
    finally:
        if foreground.poll() is None:
            os.killpg(foreground.pid, signal.SIGKILL)
            foreground.wait()
    assert not (folder / "sekmet.pid").exists()
    assert not is_serving(base) and sandboxes_of(folder) == []


async def test_two_clients_starting_env_local_at_once_share_one_sandbox(sandbox_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    """First run, a checkout with a .env made from .env.example (placeholder client id, no key file), two MCP
    clients launched together: both get answers, one sandbox serves, and --stop reaches it."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / ".env.example", checkout / ".env")
    folder, base = Path(sandbox_env["EPIC_SANDBOX_DIR"]), f"http://127.0.0.1:{sandbox_env['EPIC_SANDBOX_PORT']}/fhir"
    server = StdioServerParameters(command=sys.executable, args=["-m", "epic_mcp", "--env", "local"],
                                   env=sandbox_env, cwd=str(checkout))
    found: list[int] = []

    async def one_client() -> None:
        async with Client(server) as client:
            result = await client.call_tool("find_test_patients", {})
            assert not result.is_error, result.content[0].text
            found.append(len(result.structured_content["patients"]))

    async with anyio.create_task_group() as group:
        group.start_soon(one_client)
        group.start_soon(one_client)
    assert found == [7, 7]
    running = sandboxes_of(folder)
    assert len(running) == 1 and (folder / "sekmet.pid").read_text().strip() == str(running[0])

    stopped = epic_mcp(sandbox_env, "sandbox", "--stop", cwd=checkout)
    assert stopped.returncode == 0 and stopped.stdout.strip() == "sandbox stopped"
    assert not is_serving(base) and sandboxes_of(folder) == []


def test_a_busy_sandbox_port_is_named_in_one_line(sandbox_env: dict[str, str]) -> None:
    port = int(sandbox_env["EPIC_SANDBOX_PORT"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        for args in (["sandbox", "--background"], ["--env", "local"]):
            result = epic_mcp(sandbox_env, *args)
            assert result.returncode == 1 and "Traceback" not in result.stderr
            errors = [line for line in result.stderr.splitlines() if "INFO" not in line]
            assert len(errors) == 1, result.stderr
            assert errors[0].startswith(f"epic-mcp: port {port} on 127.0.0.1 is used by another program; set "
                                        "EPIC_SANDBOX_PORT to a free port (for example EPIC_SANDBOX_PORT=")
