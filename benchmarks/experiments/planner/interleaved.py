"""Planner time of this checkout against another checkout's, call for call (CPU).

python benchmarks/experiments/planner/interleaved.py OTHER_CHECKOUT [ROUNDS]

Both planners are imported into one process (``benchmarks/compare_plans.py``) and their plans
of ``bench_planner.py``'s shapes at 64 and 256 requests alternate, cold plans (a planner's
memo of decisions cleared, where it has one: before session 65) and lazy one-token updates,
so a machine whose speed drifts (this 2-core CPU machine does, by up to 2× between minutes)
slows both alike. Prints each planner's medians and the lazy update's speed-up over its own
cold plan.
"""

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_planner import SHAPES  # noqa: E402
from compare_plans import import_other_scheduler  # noqa: E402

from sglang_pat import scheduler as ours  # noqa: E402
from sglang_pat.forest import PrefixForest  # noqa: E402

STEPS = 400  # measured calls of each kind per planner, after 20 unmeasured


def alternate(calls, steps: int = STEPS) -> list[float]:
    """Median µs of each of two calls, made in turn (which goes first alternates too)."""
    times: list[list[float]] = [[], []]
    for step in range(steps + 20):
        for i in (0, 1) if step % 2 else (1, 0):
            start = time.perf_counter()
            calls[i]()
            if step >= 20:
                times[i].append(time.perf_counter() - start)
    return [float(np.median(t) * 1e6) for t in times]


def main() -> None:
    other = import_other_scheduler(Path(sys.argv[1]))
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    forest_types = (PrefixForest, other.PrefixForest)
    for round_ in range(rounds):
        for name, shape in SHAPES.items():
            for batch in (64, 256):
                spec = shape.format(b=batch)
                forests = [kind.from_tree_spec(spec) for kind in forest_types]
                pool = np.arange(forests[0].num_requests) + 1
                planners = [
                    module.PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
                    for module in (ours, other)
                ]

                def cold(i: int) -> None:
                    if hasattr(planners[i], "forget_decisions"):  # a memo: before session 65
                        planners[i].forget_decisions()
                    planners[i].plan_cold(forests[i], pool)

                # each planner's batch grown by 1 .. 100 tokens, made before the timing
                grown = [
                    [dataclasses.replace(f, seq_lens=f.seq_lens + s) for s in range(1, 101)]
                    for f in forests
                ]
                lazy_calls = [0, 0]

                def lazy(i: int) -> None:  # a new cold plan every 100 steps, unmeasured
                    step = lazy_calls[i] % 100
                    if step == 0:
                        planners[i].plan_cold(forests[i], pool)
                    lazy_calls[i] += 1
                    planners[i].plan(grown[i][step], pool)

                cold_us = alternate([lambda: cold(0), lambda: cold(1)])
                lazy_us = alternate([lambda: lazy(0), lambda: lazy(1)])
                print(
                    f"round {round_ + 1} {name:11s} {batch:4d} requests: cold {cold_us[0]:6.1f} "
                    f"here, {cold_us[1]:6.1f} there; lazy {lazy_us[0]:5.1f} here "
                    f"({cold_us[0] / lazy_us[0]:.1f}x), {lazy_us[1]:5.1f} there "
                    f"({cold_us[1] / lazy_us[1]:.1f}x)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
