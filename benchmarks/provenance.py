"""The commit a benchmark records beside its figures.

The device machine's copy of the tree has no ``.git``, so there the chains pass
``PAT_COMMIT``; in a checkout the commit is read from git, so that a run started by hand does
not record ``unknown``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measured_commit(root: Path = ROOT) -> str:
    """``PAT_COMMIT`` where set; else ``root``'s HEAD (short), with ``-dirty`` when tracked
    files differ from it; else ``unknown`` (no git, or not a checkout)."""
    if commit := os.environ.get("PAT_COMMIT"):
        return commit

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        if git("rev-parse", "--show-toplevel") != str(root.resolve()):
            return "unknown"  # root is inside another repository, not a checkout of its own
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")
