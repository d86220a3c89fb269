"""The commit benchmarks record (``benchmarks/provenance.py``): the chains' ``PAT_COMMIT``
first, else the checkout's HEAD, marked ``-dirty`` when tracked files changed (CPU only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from provenance import measured_commit  # noqa: E402


def git(root: Path, *args: str) -> str:
    command = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def test_a_checkout_records_its_head_and_whether_tracked_files_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAT_COMMIT", raising=False)
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-q", "-m", "one")
    head = git(tmp_path, "rev-parse", "--short", "HEAD")
    (tmp_path / "untracked.txt").write_text("results")  # a run's own output does not count
    assert measured_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("2")
    assert measured_commit(tmp_path) == head + "-dirty"
    monkeypatch.setenv("PAT_COMMIT", "175c548")  # the device copy, which has no .git
    assert measured_commit(tmp_path) == "175c548"


def test_a_tree_without_git_records_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAT_COMMIT", raising=False)
    assert measured_commit(tmp_path) == "unknown"
