"""CPU: a plan's pack kernel time under the cost model, units taken from the queue in order.

    export PAT_MOONCAKE_DIR=../shared/data/mooncake
    python benchmarks/experiments/chunks/makespan_model.py mooncake:synthetic:0x64 ...

Each item is ``num_kv_heads`` units of ``tokens × token_cost + item_overhead`` bytes-equivalent
(``CostModel``), dealt in the plan's order to whichever of the planner's programs frees first;
a program reads at 1 / programs of the calibrated bandwidth. No merge, no launch or flush
costs: for batches of a few hundred µs only. Printed per batch: items and modelled µs with
private tails chunked apart (``PackScheduler.private_tails_chunked_apart``, the default) and
together (the rule before session 37).

Session 37 (32 q / 8 KV heads): the three Mooncake kernel batches whose plans the chunk
classes changed, not yet measured with them. Modelled together / apart: ``synthetic@0x64``
1,079 / 894 µs, ``conversation@5000x128`` 1,882 / 1,523, ``synthetic@2000x128`` 2,006 /
1,757 (``conversation@0x64``, unchanged: 839). The kernel benchmark measured the together
plans at 1,094, 1,780 and 2,005 µs (and 800; session 23, d05665a), within 6% of the model.
The small batches of ``tails_apart.py``: 28 / 22 µs modelled, 35-37 / 26-28 measured with
the merge and the harness.
"""

import heapq
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from workloads import workload_for  # noqa: E402

from sglang_pat.scheduler import PackScheduler  # noqa: E402


def modelled_us(planner: PackScheduler, items: np.ndarray) -> float:
    """Pack kernel µs of ``items`` under ``planner.cost`` (see the module docstring)."""
    cost = items[:, 1] * np.asarray(planner.token_cost)[items[:, 5]]
    units = np.repeat(cost + planner.cost.item_overhead_bytes, planner.num_kv_heads)
    programs = [0.0] * planner.num_programs
    for unit in units.tolist():
        heapq.heappush(programs, heapq.heappop(programs) + unit)
    return max(programs) * planner.num_programs / planner.cost.bandwidth_bytes_per_us


def main() -> None:
    for spec in sys.argv[1:]:
        forest = workload_for(spec).forest
        pool = np.arange(forest.num_requests)
        row = [spec]
        for apart in (False, True):
            planner = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
            planner.private_tails_chunked_apart = apart
            plan = planner.plan_cold(forest, pool)
            name = "apart" if apart else "together"
            row.append(
                f"{name} {plan.items.shape[0]} items {modelled_us(planner, plan.items):.0f} us"
            )
        print(", ".join(row))


if __name__ == "__main__":
    main()
