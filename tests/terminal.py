"""A command run as someone at a terminal runs it: stdin is a pseudo-terminal; stdout and stderr are kept apart."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CTRL_D = b"\x04"  # end of input, as typed at a terminal


@dataclass
class TerminalRun:
    stdout: str
    stderr: str
    returncode: int


def run_on_a_terminal(command: list[str], env: dict[str, str], cwd: Path | str, wait_for: str,
                      timeout: float = 120, ctrl_c: bool = False) -> TerminalRun:
    """Start `command` with a terminal as stdin, wait until its stderr shows `wait_for` (or it exits), then type
    Ctrl-D (or press Ctrl-C: SIGINT, as the terminal sends it) and collect what it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               cwd=cwd)
    os.close(follower)
    assert process.stderr is not None and process.stdout is not None
    stderr = b""
    deadline = time.monotonic() + timeout
    try:
        while wait_for.encode() not in stderr and process.poll() is None:
            assert time.monotonic() < deadline, f"no {wait_for!r} on stderr within {timeout} s: {stderr!r}"
            ready, _, _ = select.select([process.stderr], [], [], 0.2)
            if ready:
                stderr += os.read(process.stderr.fileno(), 65536)
        if ctrl_c:
            time.sleep(1)  # a person reads the line first: the server is waiting on stdin by then
            process.send_signal(signal.SIGINT)
        else:
            os.write(leader, CTRL_D)
        out, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return TerminalRun(out.decode(), (stderr + rest).decode(), process.returncode)
