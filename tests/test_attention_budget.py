"""benchmarks/attention_budget.py: the attention a serving target leaves, against its bound."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
attention_budget = pytest.importorskip("attention_budget")


def decode_line(running: int, tokens: int, throughput: float) -> str:
    return (
        f"[2026-12-02 19:13:40] Decode batch, #running-req: {running}, #token: {tokens}, token "
        f"usage: 0.30, cuda graph: True, gen throughput (token/s): {throughput}, #queue-req: 0"
    )


def test_full_batch_lines_after_the_flushes_each_pass_first_dropped() -> None:
    text = "\n".join(
        [
            decode_line(4, 9000, 100.0),  # before any flush
            "[t] Cache flushed successfully!",
            decode_line(4, 9000, 100.0),  # warm pass, skipped
            "[t] Cache flushed successfully!",
            decode_line(4, 1000, 50.0),  # the pass's first full-batch line: its prefills
            decode_line(4, 1160, 400.0),  # 10 ms a step; middle 1160 - 20 * 4
            decode_line(2, 1200, 400.0),  # not full batch
            decode_line(4, 60, 800.0),  # logged as the pool emptied: no middle
            "[t] Cache flushed successfully!",
            decode_line(4, 1000, 50.0),
            decode_line(4, 2080, 800.0),  # 5 ms
        ]
    )
    intervals = attention_budget.full_batch_intervals(text, batch=4, skip_flushes=2)
    assert intervals == [(1080, 10.0), (2000, 5.0)]
    with pytest.raises(ValueError, match="3 cache flushes, not 4"):
        attention_budget.full_batch_intervals(text, batch=4, skip_flushes=4)


def test_bound_reads_each_unique_token_once_a_layer() -> None:
    # 200,000 tokens x 4 KB x 32 layers at 4.27 TB/s
    assert attention_budget.bound_ms(200_000, 32, 4096, 4.27) == pytest.approx(6.1392, abs=1e-4)
