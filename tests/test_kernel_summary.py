"""The kernel benchmark's summary: a tree measured in several CSVs counts once, and the figures
are the default server's form where it was measured (CPU only)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench_kernels = pytest.importorskip("bench_kernels")
pytest.importorskip("matplotlib")

FIELDS = ["workload", "q_heads", "kv_heads", "batch", "provider", "us", "bound_us", "gpu",
          "commit", "date", "copy_bandwidth_tb_s", "command"]  # fmt: skip


def write(path: Path, rows: list[tuple[str, str, float]], commit: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for workload, provider, us in rows:
            row = dict(workload=workload, q_heads=32, kv_heads=8, batch=4, provider=provider)
            meta = dict(gpu="test", commit=commit, date="2026-11-30", copy_bandwidth_tb_s=4.0)
            meta["command"] = f"python benchmarks/bench_kernels.py --commit {commit}"
            writer.writerow(dict(row, us=us, bound_us=1.0, **meta))


def test_a_tree_in_two_files_counts_once(tmp_path) -> None:
    shared, other = bench_kernels.TREE_SUITE[0], bench_kernels.TREE_SUITE[1]
    assert shared not in bench_kernels.NO_SHARING and other not in bench_kernels.NO_SHARING
    # the suite: pat 2x and 4x flashinfer; an older custom run of the first tree: 100x
    suite = [(shared, "pat", 10.0), (shared, "flashinfer-decode", 20.0)]
    suite += [(other, "pat", 10.0), (other, "flashinfer-decode", 40.0)]
    write(tmp_path / "kernels-a-suite.csv", suite, "new")
    custom = [(shared, "pat", 1.0), (shared, "flashinfer-decode", 100.0)]
    write(tmp_path / "kernels-b-custom.csv", custom, "old")
    bench_kernels.summarize(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["suite_trees_with_sharing"] == 2
    assert summary["suite_geomean_vs_flashinfer_decode"] == pytest.approx(8**0.5)
    # the runs it summarizes, by the commands that made them
    assert "--commit new; " in summary["command"] and "--commit old; " in summary["command"]


def test_the_summary_takes_the_servers_form_where_measured(tmp_path) -> None:
    """With ``pat-forms`` in the rows (the default server's graph form) the figures are its,
    and the summary names it; without, the pair's graph (``pat``)."""
    example, wide = bench_kernels.WORKED_EXAMPLE, bench_kernels.WIDE_FANOUT
    tree = next(t for t in bench_kernels.TREE_SUITE if t not in bench_kernels.NO_SHARING)
    rows = [(example, "pat", 65.0), (example, "pat-forms", 64.0), (wide, "pat", 46.0)]
    rows += [(wide, "pat-forms", 47.0), (tree, "flashinfer-decode", 30.0)]
    rows += [(tree, "pat", 10.0), (tree, "pat-forms", 15.0)]
    write(tmp_path / "kernels-acceptance.csv", rows, "c")
    bench_kernels.summarize(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pat_provider"] == "pat-forms"
    assert (summary["worked_example_us"], summary["wide_fanout_us"]) == (64.0, 47.0)
    assert summary["suite_geomean_vs_flashinfer_decode"] == pytest.approx(2.0)
    write(tmp_path / "kernels-acceptance.csv", [r for r in rows if r[1] != "pat-forms"], "c")
    bench_kernels.summarize(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pat_provider"] == "pat" and summary["worked_example_us"] == 65.0
    assert summary["suite_geomean_vs_flashinfer_decode"] == pytest.approx(3.0)
