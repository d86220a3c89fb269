"""benchmarks/steps_by_batch.py: decode steps per batch size from two servers' logs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
steps_by_batch = pytest.importorskip("steps_by_batch")


def decode_line(running: int, throughput: float) -> str:
    return (
        f"[2026-12-02 02:13:29] Decode batch, #running-req: {running}, #token: 50706, token "
        f"usage: 0.06, cuda graph: True, gen throughput (token/s): {throughput}, #queue-req: 0"
    )


def log(*lines: str) -> str:
    return "\n".join(lines)


def test_steps_come_from_the_lines_after_the_chosen_flush() -> None:
    text = log(
        decode_line(1, 100.0),  # before any flush
        "[t] Cache flushed successfully!",
        decode_line(1, 150.0),  # warm pass
        "[t] Cache flushed successfully!",
        decode_line(1, 200.0),  # 5 ms a step
        decode_line(4, 800.0),  # 5 ms
        decode_line(4, 400.0),  # 10 ms
        decode_line(2, 0.0),  # an idle interval: no step
    )
    steps = steps_by_batch.steps_ms_by_batch(text, skip_flushes=2)
    assert dict(steps) == {1: [5.0], 4: [5.0, 10.0]}
    assert steps_by_batch.steps_ms_by_batch(text, skip_flushes=0)[1] == [10.0, 1e3 / 150, 5.0]
    with pytest.raises(ValueError, match="2 cache flushes, not 3"):
        steps_by_batch.steps_ms_by_batch(text, skip_flushes=3)


def test_ratio_per_batch_and_weighted_by_the_first_servers_lines() -> None:
    a = {1: [5.0, 5.0, 5.0], 4: [6.0], 8: [9.0]}
    b = {1: [4.0, 4.0, 4.0], 4: [6.0], 16: [1.0]}
    rows, weighted = steps_by_batch.compare(a, b)
    assert [row[0] for row in rows] == [1, 4]  # sizes both servers ran
    assert rows[0] == (1, 3, 3, 5.0, 4.0, 1.25)
    assert rows[1][5] == 1.0
    assert weighted == pytest.approx((3 * 5.0 + 6.0) / (3 * 4.0 + 6.0))
    rows, weighted = steps_by_batch.compare(a, b, min_lines=3)
    assert len(rows) == 2 and weighted == 1.25  # size 4 has one line a server: left out
    with pytest.raises(ValueError, match="no batch size"):
        steps_by_batch.compare({1: [1.0]}, {2: [1.0]})
