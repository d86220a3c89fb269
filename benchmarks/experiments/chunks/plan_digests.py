"""Which batches' plans a planner change moves: digest every plan, then compare two runs (CPU).

    python benchmarks/experiments/chunks/plan_digests.py record OUT.json   (once per version)
    python benchmarks/experiments/chunks/plan_digests.py record OUT.json --powers
    python benchmarks/experiments/chunks/plan_digests.py diff OLD.json NEW.json

(``PackScheduler.fine_private_chunks`` on, the server's default since session 41; ``--powers``:
off, as every record before session 41 without ``--fine``.)

Batches (752, session 34): the acceptance, suite, served and small private shapes,
``1,N_P,T`` for N in 2-64 requests sharing P = 1-8k tokens with T = 32/128/416-token tails,
nine gsp defaults and six gsp 4 x 32 draws, each at (32, 8), (64, 8), (16, 8) and (32, 32);
and 4/16/64 consecutive requests from every 400th record of the two Mooncake traces at (32, 8)
and (64, 8). Each is planned cold as the server plans it (``server_plan``); a digest is a hash
of the plan's items and members with their counts.
"""

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from workloads import (  # noqa: E402
    ACCEPTANCE_EXTRA,
    SERVED_BATCHES,
    TREE_SUITE,
    WIDE_FANOUT,
    WORKED_EXAMPLE,
    mooncake_workload,
    workload_for,
)

from sglang_pat.cost_model import CostModel, default_tile_menu  # noqa: E402
from sglang_pat.decoder import SERVER_MAX_PARTIALS  # noqa: E402
from sglang_pat.forest import PrefixForest  # noqa: E402
from sglang_pat.plan import PackPlan, PlanCapacity  # noqa: E402
from sglang_pat.scheduler import PackScheduler  # noqa: E402

HEADS = [(32, 8), (64, 8), (16, 8), (32, 32)]
SMALL = ["6_3300", "1_3300", "10_4000", "2_8000", "4_2000", "16_1024", "3_5000", "8_2500"]
SHAPES = [WORKED_EXAMPLE, WIDE_FANOUT, *ACCEPTANCE_EXTRA, *TREE_SUITE, *SERVED_BATCHES, *SMALL]
SHAPES += ["16,256_2048,256"]
SHAPES += [
    f"1,{n}_{p},{t}"
    for n in (2, 4, 8, 10, 12, 16, 32, 64)
    for p in (1024, 2048, 4096, 8192)
    for t in (32, 128, 416)
]
SHAPES += [f"gsp:64x16:2048+{t}:b256:s{s}" for t in (50, 128, 200) for s in range(3)]
SHAPES += [f"gsp:4x32:4096+{t}:b128:s{s}" for t in (10, 128, 250) for s in range(2)]


def server_plan(
    forest: PrefixForest,
    q_heads: int,
    kv_heads: int,
    cost: CostModel | None = None,
    fine: bool = True,
) -> PackPlan:
    """The cold plan the server's decoder would make (lean menu, ``PatDecoder``'s capacity
    with the backend's budget of partial slots), on the CPU; ``fine``: with
    ``fine_private_chunks``."""
    group = q_heads // kv_heads
    capacity = PlanCapacity.for_batch(forest.num_requests, int(forest.seq_lens.sum()))
    planner = PackScheduler(
        num_kv_heads=kv_heads,
        group_size=group,
        head_dim=128,
        num_sms=132,
        menu=default_tile_menu(128, group, lean=True),
        cost=cost,
        capacity=dataclasses.replace(capacity, max_partials=SERVER_MAX_PARTIALS),
    )
    planner.fine_private_chunks = fine
    return planner.plan_cold(forest, np.arange(forest.num_requests))


def digest(forest: PrefixForest, q_heads: int, kv_heads: int, fine: bool) -> str:
    plan = server_plan(forest, q_heads, kv_heads, fine=fine)
    arrays = plan.items.tobytes() + plan.members.tobytes()
    counts = f"items {len(plan.items)} partials {plan.num_partials}"
    return f"{hashlib.md5(arrays).hexdigest()[:10]} {counts}"


def record(fine: bool = True) -> dict[str, str]:
    out = {}
    for spec in SHAPES:
        forest = workload_for(spec).forest
        for q_heads, kv_heads in HEADS:
            out[f"{spec}@{q_heads},{kv_heads}"] = digest(forest, q_heads, kv_heads, fine)
    for trace in ("conversation", "synthetic"):
        for start in range(0, 6000, 400):
            for batch in (4, 16, 64):
                forest = mooncake_workload(trace, start, batch).forest
                for q_heads, kv_heads in HEADS[:2]:
                    out[f"mooncake:{trace}:{start}:{batch}@{q_heads},{kv_heads}"] = digest(
                        forest, q_heads, kv_heads, fine
                    )
    return out


if __name__ == "__main__":
    powers = sys.argv[3:] == ["--powers"]
    if sys.argv[1:2] == ["record"] and len(sys.argv) in (3, 4) and (powers or len(sys.argv) == 3):
        Path(sys.argv[2]).write_text(json.dumps(record(not powers), indent=0))
    elif sys.argv[1:2] == ["diff"] and len(sys.argv) == 4:
        old, new = (json.loads(Path(p).read_text()) for p in sys.argv[2:])
        moved = [key for key in old if new.get(key) != old[key]]
        for key in moved:
            print(f"{key}: {old[key]} -> {new.get(key)}")
        print(f"{len(moved)} of {len(old)} plans differ")
    else:
        sys.exit(__doc__)
