"""The backend's step reports (``step_reports.py``) on the CPU: the planning-time log line and
the verification gap (also tested through the backend, ``test_backend.py``)."""

from __future__ import annotations

import pytest
import torch

from sglang_pat.graph_switch import GraphSwitches
from sglang_pat.step_reports import PLAN_TIMES_LOGGED_EVERY, PlanTimes, TritonGap


class CountedSwitches(GraphSwitches):
    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def counts(self) -> tuple[int, int]:
        self.asked += 1
        return 31, 33


def test_plan_times_log_percentiles_every_so_many_steps(caplog) -> None:
    """A line every PLAN_TIMES_LOGGED_EVERY served steps, with the percentiles of the last
    ones in µs, the last batch, the unstaged steps and the graph switches' counts, which are
    asked for only then (not once a step)."""
    times, switches = PlanTimes(), CountedSwitches()
    with caplog.at_level("INFO", logger="sglang_pat"):
        for step in range(2 * PLAN_TIMES_LOGGED_EVERY - 1):
            times.record((100 + step % PLAN_TIMES_LOGGED_EVERY) * 1e-6, 256, 36, switches)
    lines = [r.getMessage() for r in caplog.records if "planning CPU time" in r.getMessage()]
    assert len(lines) == 1 and switches.asked == 1
    assert (
        f"over the last {PLAN_TIMES_LOGGED_EVERY} steps: p50 199 us, p90 279 us, p99 297 us"
        in lines[0]
    )
    assert "(last batch 256 requests); 36 warmup and capture steps not counted" in lines[0]
    assert lines[0].endswith("graph switches: 31 graphs, 33 changes of form")


def test_triton_gap_compares_the_steps_requests_only(caplog) -> None:
    """Padding rows (past the step's requests) never count; warmup steps are forgotten."""
    gap = TritonGap(torch.device("cpu"))
    out = torch.tensor([[1.0, 2.0], [3.0, 4.0], [float("nan"), 9.0]])
    gap.start_step(2, staged=False)  # warmup: not counted
    gap.compare(out, torch.full((3, 2), 50.0))
    gap.start_step(2, staged=True)
    gap.compare(out, torch.tensor([[1.0, 2.5], [3.0, 4.0], [0.0, 0.0]]))
    with caplog.at_level("INFO", logger="sglang_pat"):
        gap.start_step(2, staged=True)
    assert "1 decode steps, max |pat - triton| 0.5, max |triton| 4, " in caplog.text
    assert gap.stats[2].item() == pytest.approx(0.5 / 3.5)
