"""The optional extras (sandbox, population, ...): the command that installs one into the running epic-mcp."""

from __future__ import annotations

import re
import shlex
import sys
from importlib import metadata

DISTRIBUTION = "epic-mcp"
EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([\w.-]+)['"]""")
SELF_REFERENCE = re.compile(rf"{DISTRIBUTION}\s*\[([\w.,\s-]+)\]")


def _requirements(extra: str, declared: list[str], seen: set[str]) -> list[str]:
    """The requirements the extra adds, its references to other extras (spark needs population) expanded."""
    if extra in seen:
        return []
    seen.add(extra)
    found: list[str] = []
    for line in declared:
        requirement, _, marker = line.partition(";")
        marked = EXTRA_MARKER.search(marker)
        if marked is None or marked.group(1) != extra:
            continue
        inner = SELF_REFERENCE.match(requirement.strip())
        if inner is None:
            found.append(requirement.strip().replace(" ", ""))
            continue
        for name in inner.group(1).split(","):
            found += _requirements(name.strip(), declared, seen)
    return found


def install_command(extra: str) -> str:
    """pip run by this very interpreter, with the extra's requirements as the installed package declares them: it
    works for a wheel and for a checkout's .venv alike, where `pip install 'epic-mcp[extra]'` needs epic-mcp on a
    package index and a bare `pip` may belong to another Python."""
    try:
        requirements = _requirements(extra, metadata.requires(DISTRIBUTION) or [], set())
    except metadata.PackageNotFoundError:
        requirements = []
    python = shlex.quote(sys.executable)
    if not requirements:  # run from source without an install: the checkout's own way
        return f"{python} -m pip install -e '.[{extra}]' (in the epic-mcp checkout)"
    return f"{python} -m pip install {' '.join(shlex.quote(r) for r in requirements)}"


def missing_extra(extra: str, purpose: str) -> str:
    """One line: the extra, what it is for, and the command that installs it."""
    return f"the `{extra}` extra {purpose} is not installed; install it with: {install_command(extra)}"
