"""Experiment: private tails beside a few shared units, priced at the speed of a partly busy GPU.

    python benchmarks/experiments/chunks/occupancy_wait.py 1,4_256,3000 1,9_256,5000 ...

Why: where shared units queue ahead of a private-only chunk class and every private unit fits
on the programs they leave free (``CostModel.queue_wait``), the planner prices the class at its
longest unit, as if each unit ran at the full GPU's per-program share of bandwidth (B / 264).
The fluid model fitted in session 39 (``ticket_model.py``: B 4.00 TB/s shared by the busy
programs, each at most r = 26.6 KB/µs) runs a unit up to B / (264 r) ≈ 0.57 of that time when
fewer programs are busy. So the fine candidates (``PackScheduler.fine_private_chunks``) fill
every free program with shorter units where the powers of two left a few idle and ran faster:
``1,4_256,3000`` took 28.2 µs at 512 tokens and 30.5 at the knob's 384, ``1,9_256,5000`` 66.0
and 68.5, the replay's ``shared:256:570,…`` 65.9 and 68.8 (session 39, ``fine_chunks.py``).
``OccupancyWait`` prices such a wave at its longest unit × max(0.57, busy / programs).
On the fitted model (CPU, 117 batches: Mooncake batches of 4-64 requests, small private and
``1,N_256,T`` batches), the knob with it is 1.25% off the model's best chunk on average
against 1.38% without it (the default: 3.9%); it moves 25 of those plans, among them two
that session 39 measured faster with the knob than without (``1,3_256,3000`` 25.7 -> 24.0 µs,
``1,10_256,4000`` 63.5 -> 59.3), which it takes back to the default's chunks.
Variants, one decoder each, the same batch: ``default``, ``fine`` (the knob) and ``fine
occupancy`` (the knob and ``OccupancyWait``), alternated ``--rounds`` times in CUDA graphs
after the flush, merge included, beside FlashInfer decode. One JSON line a shape (own process).

Session 40 (one H200, c123fcd's planner; ``../../results/2026-12-02-NVIDIA-H200/
session40-kernels/occupancy_wait.jsonl``), µs a layer, mean of 3 rounds, items in brackets:

| batch | default | fine | fine occupancy | FlashInfer decode |
|---|---:|---:|---:|---:|
| ``1,4_256,3000`` | 28.5 (25) | 30.6 (33) | **28.3** (21) | 28.7 |
| ``1,3_256,3000`` | 25.5 (19) | **24.1** (25) | 25.5 (19) | 24.5 |
| ``shared:256:570,…`` (the replay's) | **65.6** (29) | 68.6 (65) | **65.6** (29) | 63.1 |
| ``1,9_256,5000`` | **65.7** (28) | 68.2 (64) | 72.5 (19) | 61.8 |
| ``1,10_256,4000`` | 63.7 (21) | **59.1** (31) | 63.9 (21) | 58.1 |
| ``shared:256:571,…`` (the replay's) | 55.1 (66) | 54.7 (66) | **49.7** (30) | 49.9 |
| ``1,8_256,1200`` | **23.8** (25) | 24.3 (33) | 26.7 (17) | 24.9 |
| ``1,5_256,1500`` | **22.3** (31) | 22.4 (31) | 23.1 (16) | 22.5 |

The variant is right on three (``shared:256:571,…`` 10% under both others, level with
FlashInfer decode) and wrong on five, by up to 10% (``1,8_256,1200``); against the knob alone
its geometric mean is 1.013. The model had it 1.4% faster on ``1,9_256,5000`` and it was 6%
slower: beside shared units the fitted model does not rank these plans well enough, so the
rule is not taken into the planner.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_variants import run_variants  # noqa: E402

from sglang_pat.cost_model import CostModel, longest_unit_cost  # noqa: E402

# A program alone runs at r = 26.6 KB/µs, 1.75 times the full GPU's share, B / 264 (session
# 39's fit): a unit's time falls to this fraction when few programs are busy.
LONE_PROGRAM_TIME = 0.57


class OccupancyWait(CostModel):
    """``CostModel`` with one wave of private units beside shared ones priced at the
    occupancy's speed: its longest unit × max(LONE_PROGRAM_TIME, busy programs / programs)."""

    def chunk_cost(self, chunk_len, max_len, extra_items, extra_partials, token_cost,
                   partial_cost, total_work, num_programs, num_kv_heads, private_only, units,
                   wait):  # fmt: skip
        shared_end, free = wait
        if private_only and shared_end:
            longest = longest_unit_cost(chunk_len, max_len, token_cost, self.item_overhead_bytes)
            if self.late_units(units, longest, wait) <= 0:
                spread = self.chunk_spread(
                    extra_items, extra_partials, partial_cost, total_work, num_programs,
                    num_kv_heads, True,
                )  # fmt: skip
                busy = min(num_programs, num_programs - free + units)
                share = max(LONE_PROGRAM_TIME, busy / num_programs)
                return max(spread, shared_end, longest * share)
        return super().chunk_cost(
            chunk_len, max_len, extra_items, extra_partials, token_cost, partial_cost,
            total_work, num_programs, num_kv_heads, private_only, units, wait,
        )  # fmt: skip


VARIANTS = {
    # "default": the planner's default when this ran (private chunks at powers of two only,
    # until session 41), which ticket_model.py replans the recorded runs with
    "default": dict(fine_private_chunks=False),
    "fine": dict(fine_private_chunks=True),
    "fine occupancy": dict(fine_private_chunks=True, cost=OccupancyWait()),
}


if __name__ == "__main__":
    run_variants(__file__, __doc__, VARIANTS)
