"""Cold-plan time of this checkout's planner against another checkout's, call for call (CPU).

python benchmarks/experiments/planner/interleaved.py OTHER_CHECKOUT [ROUNDS]

Both planners are imported into one process (``benchmarks/compare_plans.py``) and their cold
plans of ``bench_planner.py``'s 256-request shapes alternate, so a machine whose speed drifts
(this 2-core CPU machine does, by up to 2× between minutes) slows both alike. Prints each
planner's median and their ratio per shape and round.
"""

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


def main() -> None:
    other = import_other_scheduler(Path(sys.argv[1]))
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    other_forest = sys.modules["other_sglang_pat.forest"].PrefixForest
    for round_ in range(rounds):
        for name, shape in SHAPES.items():
            spec = shape.format(b=256)
            forests = (PrefixForest.from_tree_spec(spec), other_forest.from_tree_spec(spec))
            pool = np.arange(forests[0].num_requests) + 1
            planners = [
                module.PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
                for module in (ours, other)
            ]
            times: list[list[float]] = [[], []]
            for step in range(420):
                for i in (0, 1) if step % 2 else (1, 0):
                    planners[i].forget_decisions()
                    start = time.perf_counter()
                    planners[i].plan_cold(forests[i], pool)
                    if step >= 20:
                        times[i].append(time.perf_counter() - start)
            this, that = (float(np.median(t) * 1e6) for t in times)
            print(
                f"round {round_ + 1} {name:11s} 256 requests: cold {this:6.1f} us here, "
                f"{that:6.1f} us there ({that / this:.2f}x)",
                flush=True,
            )


if __name__ == "__main__":
    main()
