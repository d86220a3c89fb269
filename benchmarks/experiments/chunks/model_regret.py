"""CPU: how far the planner's private chunks are from the fitted launch model's best, per batch.

    export PAT_MOONCAKE_DIR=../shared/data/mooncake
    python benchmarks/experiments/chunks/model_regret.py [BATCH ...]

Each batch (default: 4, 16 and 64 consecutive requests from every 400th record of both
Mooncake traces, small private batches, and batches of a few requests sharing 256 tokens, as
the Mooncake replay runs them) is planned at 32 q / 8 KV heads on 132 SMs by the default
planner with ``fine_private_chunks`` off (``powers``: the default until session 41) and on
(the knob, the default since), and with every private-only chunk class forced to each
candidate length in turn (shared classes keep the planner's chunks). Each plan is timed
on ``ticket_model.py``'s fluid model with the early ticket and the cap per SM, at session 40's
fit (143 timed plans: 5.0% RMS, its pick 0.3% off the fastest timed variant). Printed per
batch: the model's µs for the powers, the knob and the best forced chunk; then each planner's
geometric mean over the batches, as a fraction of the best and of the powers. (Session 40's
text and output below say "default" for the powers.)

Session 40 (117 batches): the default 1.047 of the model's best (worst 1.48,
``mooncake:conversation:4800x16``), the knob 1.015 (worst 1.15), the knob 0.969 of the
default, more than 1% faster on 40 batches and more than 1% slower on 11. The timed runs agree
in sign (``ticket_waves.py``: 0.949 on nine batches; ``occupancy_wait.py``: 1.005 on eight
with private tails behind a few shared units). Formulas tried in session 40 to price a
partly busy launch came out level with the knob or worse on this measure. On this model
(geometric mean against the knob's plans): the cap per SM as a factor by occupancy
1.000-1.001, rounds of units each at its occupancy's speed 0.999-1.003, a smooth maximum
(p = 2-8) of the spread work and the early ticket's path at a lone program's speed, shared
units ahead included, 1.005-1.008. On the fit without the cap: one factor for a lone
program's speed and a partial last wave were 0.3-0.4% further from the best than the knob. Where the
knob is furthest from the best (``mooncake:conversation:4800x16``: a 119k-token request among
15 of 1-37k) the long request's units run alone at the end, below the bandwidth, which none of
these prices.
"""

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ticket_model import launch_us, units_of  # noqa: E402

from sglang_pat.scheduler import PackScheduler  # noqa: E402

# ticket_model.py's fit, early ticket with the cap per SM (session 40): B TB/s, r KB/µs,
# R KB/µs, overhead KB, c0 µs.
FIT = (4.29, 28.62, 47.02, 86.32, 12.51)
CANDIDATES = [256, 384, 512, 640, 768, 1024, 1280, 1536, 2048, 2560, 3072, 4096, 5120, 6144]
CANDIDATES += [8192, 10240, 12288, 16384, 20480, 24576, 32768]
BATCHES = [
    f"mooncake:{trace}:{start}x{size}"
    for trace in ("conversation", "synthetic")
    for start in range(0, 6000, 400)
    for size in (4, 16, 64)
]
BATCHES += ["6_3300", "1_3300", "10_4000", "2_8000", "4_2000", "16_1024", "3_5000", "8_2500"]
BATCHES += ["2_6000", "3_6256", "64_4096", "256_1024", "256_4096"]
BATCHES += [f"1,{n}_256,{t}" for n, t in ((3, 3000), (4, 3000), (7, 3000), (3, 6000))]
BATCHES += [f"1,{n}_256,{t}" for n, t in ((9, 5000), (10, 4000), (5, 1500), (6, 2500))]
BATCHES += ["1,8_256,1200", "1,12_256,3000", "1,16_512,2000"]
BATCHES += [
    "shared:256:583,1101,3173,3173,3432,4986,6022,6799,7058,7835",
    "shared:256:570,1088,3160,3160,3419,3937,4973,6009,6786,7045,7822",
    "shared:256:571,571,1351,2651,2911,3431,3951,4731,5771,7331",
]


def planner(fine: bool, private_chunk: int = 0) -> PackScheduler:
    """The planner at 32 q / 8 KV heads; ``private_chunk``: every private-only class cut there."""
    scheduler = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
    scheduler.fine_private_chunks = fine
    if private_chunk:  # ChunkRule.forced: a ValueError where it is not a candidate
        scheduler._rule.forced[:, 1] = private_chunk
    return scheduler


def model_us(scheduler: PackScheduler, spec: str) -> float:
    units, _ = units_of(scheduler, spec)
    bandwidth, rate, sm_rate, overhead, constant = FIT
    us = launch_us(units, bandwidth * 1e6, rate * 1e3, overhead * 1e3, True, sm_rate * 1e3)
    return us + constant


def best_forced_us(spec: str) -> float:
    best = math.inf
    for length in CANDIDATES:
        try:
            best = min(best, model_us(planner(True, length), spec))
        except ValueError:  # not one of a private class's candidates
            continue
    return best


def geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def main() -> None:
    rows = []
    for spec in sys.argv[1:] or BATCHES:
        powers, fine = model_us(planner(False), spec), model_us(planner(True), spec)
        best = min(best_forced_us(spec), powers, fine)
        rows.append((powers, fine, best))
        print(f"{spec}: powers {powers:.1f} us, knob {fine:.1f}, best {best:.1f}", flush=True)
    powers, fine, best = (list(column) for column in zip(*rows))
    for name, us in (("powers", powers), ("knob", fine)):
        print(
            f"{name}: {geomean([a / b for a, b in zip(us, best)]):.4f} of the best (worst "
            f"{max(a / b for a, b in zip(us, best)):.3f}), "
            f"{geomean([a / b for a, b in zip(us, powers)]):.4f} of the powers"
        )
    slower = sum(f > 1.01 * d for f, d in zip(fine, powers))
    faster = sum(f < 0.99 * d for f, d in zip(fine, powers))
    print(f"knob: more than 1% faster than the powers on {faster}, slower on {slower}")


if __name__ == "__main__":
    main()
