"""Experiment: the second wave of a private-only plan, as the pack kernel's early ticket deals it.

    python benchmarks/experiments/chunks/ticket_waves.py mooncake:synthetic:3600x16 ...

Why: a pack-kernel program takes its next unit's ticket as it starts its current one (the
atomic's latency hides behind the unit). Every program starts at once, so the units past the
first ``num_programs`` go to programs in the order they started, whatever their first unit's
length: a plan of 264-528 units lasts about two of its longest units, not the queue's
shortest-first finish. Session 39 fitted a fluid model of the launch (bandwidth shared by the
programs, a per-program cap, a per-unit overhead) to 82 timed plans of 17 batches
(``fine_chunks.py``; ``ticket_model.py``): with the early ticket it fits them to 5.2% RMS
and its picks are 1.6% off the fastest timed plan on average (the planner's own: 5.3%); with
a dynamic queue, 5.7% RMS and 2.8%.
The planner's private-only chunk cost (``CostModel.chunk_cost``) therefore charges
⌈units / programs⌉ whole waves of the longest unit, not only the work's.
Variants, one decoder each, the same batch: ``default`` (that rule), ``before`` (whole waves
of the work only, as before session 39), ``fine`` (the rule with
``PackScheduler.fine_private_chunks``) and ``fine before`` (added after session 39's run),
alternated ``--rounds`` times in CUDA graphs after the flush, merge included, beside
FlashInfer decode. One JSON line a shape (own process).

Session 39 (one H200, 4708dec's planner; ``../../results/2026-12-02-NVIDIA-H200/
session39-kernels/ticket_waves.jsonl``), µs a layer, mean of 3 rounds, items in brackets:

| batch | default | before | fine | FlashInfer decode |
|---|---:|---:|---:|---:|
| ``mooncake:synthetic:3600x16`` | **266.6** (127) | 349.8 (38) | 266.2 (127) | 247.0 |
| ``mooncake:synthetic:400x64`` | **942.2** (499) | 1,296.7 (74) | 934.7 (409) | 1,289.7 |
| ``mooncake:synthetic:2000x64`` | **1,102.3** (169) | 1,381.1 (74) | 1,154.0 (128) | 2,556.4 |

The model had predicted 0.74, 0.75 and 0.84 of the ``before`` times; measured 0.76, 0.73
and 0.80.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_variants import run_variants  # noqa: E402

from sglang_pat.cost_model import CostModel  # noqa: E402


class WavesOfWork(CostModel):
    """The private-only chunk cost before session 39: whole waves of the work only (a unit
    count of 0 where no shared units queue ahead, the one place the count is charged)."""

    def chunk_cost(self, *args):
        *rest, units, wait = args  # wait: (when the shared units end, programs they leave free)
        return super().chunk_cost(*rest, units if wait[0] else 0, wait)


VARIANTS = {
    # "default" and "before": the planner's default when this ran, private chunks at powers
    # of two only (until session 41), as ticket_model.py replans the recorded runs
    "default": dict(fine_private_chunks=False),
    "before": dict(cost=WavesOfWork(), fine_private_chunks=False),
    "fine": dict(fine_private_chunks=True),
    "fine before": dict(cost=WavesOfWork(), fine_private_chunks=True),
}


if __name__ == "__main__":
    run_variants(__file__, __doc__, VARIANTS)
