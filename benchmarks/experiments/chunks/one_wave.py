"""Experiment: one underfilled wave of private units priced at the pace its occupancy allows.

    python benchmarks/experiments/chunks/one_wave.py 24_2300 16_2300 ...        (H200)
    python benchmarks/experiments/chunks/one_wave.py --model [BATCH ...]        (CPU)

Why: a private-only chunk class without shared units ahead is charged whole waves of its
longest unit (``CostModel.chunk_cost``), so a plan whose units all fit in one wave costs its
longest unit, however few programs it keeps busy. On ``ticket_model.py``'s fitted launch
model (B 4.29 TB/s shared by the busy programs, each at most r = 28.6 KB/µs, the programs of
one SM together at most R = 47 KB/µs) one wave of units lasts the larger of its bytes over B
and its longest unit at the programs' own cap: B / (P r) = 0.57 of a full wave's time while
k ≤ 132 units leave one program an SM, 2 B / (P R) = 0.69 above that (P = 264 programs).
Since the fine chunks became the default (session 41), the whole-wave charge makes the
planner cut no-sharing batches of 24 equal requests (192 whole units, no partials) into three
near-full waves with partials, which the model puts 1.15-1.22x slower
(``results/model_regret-session41.txt``).

``OneWave`` prices such a class, when its units fit in one wave, at max(spread, longest x
that floor); more than one wave, or units behind shared ones, keep the default's charge.

On the model (session 41, ``results/one_wave-model-session41.txt``): over 119 equal
no-sharing batches 0.993 of the default (12 faster by over 1%, 7 slower; ``24_L`` 0.82-0.92,
as the powers), over ``model_regret.py``'s 117 batches 1.001 (8 faster, 6 slower: Mooncake
synthetic batches of 16 requests 4-6% slower, ``mooncake:synthetic:0x16`` 378.5 -> 394.9 µs,
cut into fewer, longer units), and ``16_L`` 2-5% slower: the spread term takes the wave as
balanced, so it ties chunks whose longest units differ and keeps the longer. Batches sharing
a prefix keep their plans (their private tails queue behind the shared units).

Session 42 (one H200, 1787a06; ``../../results/2026-12-02-NVIDIA-H200/session42-kernels/
one_wave.jsonl``), µs a layer, mean of 3 rounds, beside FlashInfer decode:

| batch | default | powers | one wave | FlashInfer decode |
|---|---:|---:|---:|---:|
| ``24_2300`` | 78.8 | **74.9** | 77.4 | 68.1 |
| ``24_1536`` | 59.1 | **53.6** | 54.1 | 51.1 |
| ``24_3000`` | 96.3 | 92.6 | **92.1** | 84.2 |
| ``16_2300`` | **54.2** | 62.9 | 56.6 | 54.6 |
| ``16_3000`` | **65.6** | 73.8 | 69.2 | 64.9 |
| ``mooncake:synthetic:800x16`` | **188.7** | 192.4 | 198.6 | 175.9 |

As the model said, both ways, with smaller losses (``24_L`` 1.04-1.10x, not 1.15-1.22x); over
the eleven batches timed, ``one wave`` 0.998x the default, the powers 1.017x. Not adopted.
(``one wave`` and ``powers`` have the same plan on ``24_L``: 74.9 / 77.4 µs on ``24_2300`` is
the run's own spread between identical plans.)

Variants, one decoder each, the same batch: ``default`` (the planner's default when this was
written: fine chunks on), ``powers`` (fine chunks off) and ``one wave`` (fine chunks with
``OneWave``), alternated ``--rounds`` times in CUDA graphs after the flush, merge included,
beside FlashInfer decode. One JSON line a shape (own process).

``--model`` (CPU): each batch's three plans timed on the fitted model (``model_regret.py``'s
fit and batches by default); prints each plan's µs, then geometric means over the batches.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_variants import run_variants  # noqa: E402

from sglang_pat.cost_model import CostModel, longest_unit_cost  # noqa: E402

# One wave's time, as a fraction of a full wave's, floored where the programs' own caps bind
# (the fit of ticket_model.py, session 40): a lone program on its SM at B / (P r), two on one
# SM at 2 B / (P R).
LONE_ON_SM = 0.57
TWO_ON_SM = 0.69


class OneWave(CostModel):
    """``CostModel`` with a private-only class whose units fit in one wave (no shared units
    ahead) priced at the larger of the spread work (the bandwidth's pace) and its longest
    unit at a partly busy GPU's speed (the programs' own caps)."""

    def chunk_cost(self, *args):
        chunk_len, max_len, extra_items, extra_partials, token_cost, partial_cost = args[:6]
        total_work, num_programs, num_kv_heads, private_only, units, wait = args[6:]
        if private_only and not wait[0] and units <= num_programs:
            spread = self.chunk_spread(
                extra_items, extra_partials, partial_cost, total_work, num_programs,
                num_kv_heads, True,
            )  # fmt: skip
            longest = longest_unit_cost(chunk_len, max_len, token_cost, self.item_overhead_bytes)
            floor = LONE_ON_SM if 2 * units <= num_programs else TWO_ON_SM
            return max(spread, longest * floor)
        return super().chunk_cost(*args)


VARIANTS = {
    "default": dict(fine_private_chunks=True),
    "powers": dict(fine_private_chunks=False),
    "one wave": dict(fine_private_chunks=True, cost=OneWave()),
}


def model(batches: list[str]) -> None:
    """Each batch's variants on the fitted launch model (CPU; ``model_regret.py``'s fit and
    batches by default)."""
    from model_regret import BATCHES, FIT
    from ticket_model import model_variants

    model_variants(batches or BATCHES, VARIANTS, FIT)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--model"]:
        model(sys.argv[2:])
    else:
        run_variants(__file__, __doc__, VARIANTS)
