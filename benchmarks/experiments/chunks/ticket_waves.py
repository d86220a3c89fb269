"""Experiment: the second wave of a private-only plan, as the pack kernel's early ticket deals it.

    python benchmarks/experiments/chunks/ticket_waves.py mooncake:synthetic:3600x16 ...

Why: a pack-kernel program takes its next unit's ticket as it starts its current one (the
atomic's latency hides behind the unit). Every program starts at once, so the units past the
first ``num_programs`` go to programs in the order they started, whatever their first unit's
length: a plan of 264-528 units lasts about two of its longest units, not the queue's
shortest-first finish. Session 39 fitted a fluid model of the launch (bandwidth shared by the
programs, a per-program cap, a per-unit overhead) to 82 timed plans of 17 batches
(``fine_chunks.py``): with the early ticket it fits them to 5.2% RMS and picks plans 1.7% off
the fastest timed one on average (the planner's own picks: 5.3%); with a dynamic queue, 5.7%.
The planner's private-only chunk cost (``CostModel.chunk_cost``) therefore charges
⌈units / programs⌉ whole waves of the longest unit, not only the work's.
Variants, one decoder each, the same batch: ``default`` (that rule), ``before`` (whole waves
of the work only, as before session 39) and ``fine`` (the rule with
``PackScheduler.fine_private_chunks``), alternated ``--rounds`` times in CUDA graphs after the
flush, merge included, beside FlashInfer decode. One JSON line a shape (own process).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_timing import run_shape_experiment  # noqa: E402
from plan_variants import variants_beside_flashinfer  # noqa: E402

from sglang_pat.cost_model import CostModel  # noqa: E402


class WavesOfWork(CostModel):
    """The private-only chunk cost before session 39: whole waves of the work only (a unit
    count of 0 where no shared units queue ahead, the one place the count is charged)."""

    def chunk_cost(self, *args):
        args = list(args)
        if not args[11][0]:  # wait: (shared units' end, free programs)
            args[10] = 0  # units
        return super().chunk_cost(*args)


VARIANTS = {
    "default": {},
    "before": dict(cost=WavesOfWork()),
    "fine": dict(fine_private_chunks=True),
}


def one(shape: str, rounds: int) -> dict:
    return variants_beside_flashinfer(shape, rounds, VARIANTS)


if __name__ == "__main__":
    run_shape_experiment(__file__, __doc__, one)
