"""The sandbox process's lifecycle on POSIX: one starter at a time, and a pid that is checked before any signal."""

from __future__ import annotations

import errno
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockTimeout(Exception):
    """Another process held the lock for longer than the wait allowed."""


@contextmanager
def exclusive(lock_path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created if needed): concurrent starters queue here, and the lock goes
    with its holder if that process dies."""
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(str(lock_path)) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def command_line(pid: int) -> str | None:
    """The command line of a running process, or None when there is no such process (or it has exited)."""
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.parent.is_dir():
        try:
            parts = proc.read_bytes().split(b"\0")
        except OSError:
            return None
        line = " ".join(part.decode(errors="replace") for part in parts if part)
        return line or None  # a zombie has an empty command line
    if not Path("/proc/self").exists():
        try:
            result = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                                    timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() or None
    return None


def runs(pid: int, *words: str) -> bool:
    """True when process `pid` is alive and its command line contains every one of `words`."""
    line = command_line(pid)
    return line is not None and all(word in line for word in words)


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds: TIME_WAIT is no owner
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_exit(pid: int, *words: str, timeout: float) -> bool:
    """Wait until process `pid` no longer runs the command named by `words`; False on timeout."""
    deadline = time.monotonic() + timeout
    while runs(pid, *words):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def forget_pid(path: Path, pid: int) -> None:
    """Remove the pid file if it still names `pid` (a later start may have replaced it)."""
    if read_pid(path) == pid:
        path.unlink(missing_ok=True)

