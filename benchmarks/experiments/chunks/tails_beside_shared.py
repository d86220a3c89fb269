"""Experiment: private tails kept whole beside the shared units, against the rule before.

    python benchmarks/experiments/chunks/tails_beside_shared.py 1,10_4096,416@64,8 ...
    python benchmarks/experiments/chunks/tails_beside_shared.py moved   (CPU: which plans moved)

Why: session 34 measured ``1,10_4096,416@64,8`` at 39.5 µs with its 416-token tails cut in
two (36 items) and 26.8 with them whole (``plan_variants.py``'s ``floor 512``, 26 items).
``CostModel.chunk_cost`` rounded a private-tail config's spread up to whole waves of its
longest unit even when every private unit fits beside the shared ones before they end
(``queue_wait``); since session 34 such a config's cost is the shared units' end (or the
spread), so ties keep the longer chunk. This times the two rules' plans of the same batch:
- ``default``: the installed cost model (tails whole where they fit beside the shared units);
- ``waves``: ``WholeWaves``, the rule before (whole waves of the longest private unit);
alternated ``--rounds`` times in CUDA graphs after the flush, merge included, beside FlashInfer
decode, each with the server's partial budget. One JSON line a shape (own process).
"""

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_variants import run_variants  # noqa: E402

from sglang_pat.cost_model import CostModel, longest_unit_cost  # noqa: E402


class WholeWaves(CostModel):
    """The cost model before session 34: a private-tail config beside shared units still
    runs in whole waves of its longest unit when every unit fits before the shared ones end."""

    def chunk_cost(self, chunk_len, max_len, extra_items, extra_partials, token_cost,
                   partial_cost, total_work, num_programs, num_kv_heads, private_only, units,
                   wait):  # fmt: skip
        if private_only and wait[0]:
            longest = longest_unit_cost(chunk_len, max_len, token_cost, self.item_overhead_bytes)
            if self.late_units(units, longest, wait) <= 0:
                wait = (0.0, 0)  # every unit fits beside the shared ones: whole waves, as before
        return super().chunk_cost(
            chunk_len, max_len, extra_items, extra_partials, token_cost, partial_cost,
            total_work, num_programs, num_kv_heads, private_only, units, wait,
        )  # fmt: skip


VARIANTS = {"default": {}, "waves": {"cost": WholeWaves()}}


def moved() -> None:
    """CPU: the batches ``1,N_P,T`` at (32, 8), (64, 8), (16, 8) whose plans the two rules
    differ on, with (items, partials) under each (session 34: 123 of 1,365)."""
    from plan_digests import server_plan

    from sglang_pat.forest import PrefixForest

    costs = (None, WholeWaves())
    grid = list(
        itertools.product(
            (2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 48, 64),  # requests
            (512, 1024, 2048, 4096, 8192),  # shared prefix
            (160, 300, 416, 480, 600, 800, 1200),  # private tails
        )
    )
    count = 0
    for q_heads, kv_heads in ((32, 8), (64, 8), (16, 8)):
        for n, prefix, tail in grid:
            forest = PrefixForest.from_tree_spec(f"1,{n}_{prefix},{tail}")
            plans = [
                (int(plan.items.shape[0]), plan.num_partials)
                for plan in (server_plan(forest, q_heads, kv_heads, cost) for cost in costs)
            ]
            count += 1
            if plans[0] != plans[1]:
                shape = f"1,{n}_{prefix},{tail}@{q_heads},{kv_heads}"
                print(f"{shape} default {plans[0]} waves {plans[1]}")
    print(f"of {count} batches")


if __name__ == "__main__":
    if sys.argv[1:] == ["moved"]:
        moved()
    else:
        run_variants(__file__, __doc__, VARIANTS)
