"""What `git status` says about the checkout, so the suite can tell whether it changed anything.

Taken once when the session starts and again by the last test: files a developer had already
changed (or created) before the run are compared by content, so only the suite's own changes count.
"""

import hashlib
import subprocess
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]


class TreeState(NamedTuple):
    """Changed tracked files (with a hash of their content) and untracked files, relative to the repository."""

    changed: dict[str, str]
    untracked: frozenset[str]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "(gone)"


def tree_state() -> TreeState | None:
    """The checkout's state now (None outside a git checkout, or without git)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"], cwd=REPO,
                             capture_output=True, check=True, timeout=60).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return None
    entries = out.split("\0")
    changed, untracked = {}, set()
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code == "??":
            untracked.add(path)
            continue
        changed[path] = _digest(REPO / path)
        if "R" in code or "C" in code:
            i += 1  # a rename or copy is followed by its source path
    return TreeState(changed, frozenset(untracked))


def changes_since(before: TreeState, after: TreeState) -> list[str]:
    """Tracked files changed and files created between the two states (sorted, with what happened)."""
    found = [f"modified {p}" for p, digest in after.changed.items() if before.changed.get(p) != digest]
    found += [f"created {p}" for p in after.untracked - before.untracked]
    return sorted(found)
