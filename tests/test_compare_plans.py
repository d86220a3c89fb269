"""benchmarks/compare_plans.py: a copy of the planner compares identical, a changed one does not."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
compare_plans = pytest.importorskip("compare_plans")


def copy_planner(tmp_path: Path, edit: tuple[str, str] | None = None) -> Path:
    """This checkout's ``sglang_pat`` under ``tmp_path``, with one text replacement in its
    plan rows (``emit_rows.py``) if ``edit`` is given."""
    shutil.copytree(ROOT / "sglang_pat", tmp_path / "sglang_pat")
    if edit is not None:
        emit = tmp_path / "sglang_pat" / "emit_rows.py"
        text = emit.read_text()
        assert text.count(edit[0]) == 1
        emit.write_text(text.replace(*edit))
    return tmp_path


def test_a_copy_of_the_planner_emits_the_same_plans(tmp_path) -> None:
    other = compare_plans.import_other_scheduler(copy_planner(tmp_path))
    assert other.__file__.startswith(str(tmp_path))
    compared, difference = compare_plans.compare(other, forests_per_shape=20, lazy_steps=2, seed=1)
    assert difference is None
    assert compared == len(compare_plans.SHAPES) * (20 + len(compare_plans.SPECS)) * 3


def test_a_changed_packing_rule_is_reported(tmp_path) -> None:
    """Tails exactly as long as the packing limit stop being packed."""
    edit = ("tile_len[t] <= limit", "tile_len[t] < limit")
    other = compare_plans.import_other_scheduler(copy_planner(tmp_path, edit))
    _, difference = compare_plans.compare(other, forests_per_shape=100, lazy_steps=2, seed=1)
    assert difference is not None
    assert "differs" in difference or "lazy in one planner only" in difference
