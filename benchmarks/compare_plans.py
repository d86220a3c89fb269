"""Check that this checkout's planner emits the same plans as another checkout's (a refactor or
speed-up of the planner must not change a plan), cold and over lazy steps, on random forests.

    git worktree add /tmp/base 850d61f
    python benchmarks/compare_plans.py /tmp/base [--forests 400] [--seed 0] [--powers]

Both planners read the same ``PrefixForest`` arrays, both with
``PackScheduler.fine_private_chunks`` on (the default since session 41; ``--powers``: both
with it off, as every run before session 41 without ``--fine``). Exits 1 at the first
difference, naming the model shape, the forest and the plan field.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from forests import random_forest  # noqa: E402

from sglang_pat.forest import PrefixForest  # noqa: E402
from sglang_pat.scheduler import PackScheduler  # noqa: E402

# (KV heads, GQA group, head_dim, SMs)
SHAPES = [(8, 4, 128, 132), (32, 1, 64, 8), (8, 16, 256, 132), (4, 8, 128, 20)]
SPECS = ["1,4,16,256_1024,256,128,32", "1,64_4096,512", "256_4096", "1,4,1024_32,256,32"]
SPECS += ["4,128_4096,256", "1,10_4096,416", "64,256_2048,178"]


def import_other_scheduler(checkout: Path):
    """The other checkout's ``sglang_pat.scheduler``, imported beside this one's."""
    ours = {
        name: sys.modules.pop(name) for name in list(sys.modules) if name.startswith("sglang_pat")
    }
    sys.path.insert(0, str(checkout))
    try:
        other = importlib.import_module("sglang_pat.scheduler")
    finally:
        sys.path.pop(0)
        for name in [n for n in sys.modules if n.startswith("sglang_pat")]:
            sys.modules["other_" + name] = sys.modules.pop(name)
        sys.modules.update(ours)
    if not Path(other.__file__).resolve().is_relative_to(checkout.resolve()):
        raise SystemExit(f"imported {other.__file__}, not the planner under {checkout}")
    return other


def compare(
    other, forests_per_shape: int, lazy_steps: int, seed: int, fine: bool = True
) -> tuple[int, str | None]:
    """Plans compared, and the first difference (None: every plan identical)."""
    rng = np.random.default_rng(seed)
    compared = 0
    for kv_heads, group, head_dim, sms in SHAPES:
        shape = dict(num_kv_heads=kv_heads, group_size=group, head_dim=head_dim, num_sms=sms)
        ours, theirs = PackScheduler(**shape), other.PackScheduler(**shape)
        if fine and not hasattr(other.PackScheduler, "fine_private_chunks"):
            raise SystemExit(
                "the other checkout's planner has no fine_private_chunks (before session 38): "
                "compare with --powers"
            )
        ours.fine_private_chunks = theirs.fine_private_chunks = fine
        forests = [
            random_forest(rng, max_nodes=int(rng.integers(1, 30)), long_spans=bool(i % 2))
            for i in range(forests_per_shape)
        ] + [PrefixForest.from_tree_spec(spec) for spec in SPECS]
        for index, forest in enumerate(forests):
            pool = rng.permutation(forest.num_requests) + 1
            plans = [(ours.plan_cold(forest, pool), theirs.plan_cold(forest, pool))]
            for _ in range(lazy_steps):
                forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + 1)
                plans.append((ours.plan(forest, pool), theirs.plan(forest, pool)))
                if ours.last_plan_was_lazy != theirs.last_plan_was_lazy:
                    return compared, f"shape {shape}, forest {index}: lazy in one planner only"
            for step, (a, b) in enumerate(plans):
                if field := a.first_difference(b):
                    return compared, f"shape {shape}, forest {index}, step {step}: {field} differs"
            compared += len(plans)
    return compared, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--forests", type=int, default=400, help="random forests per shape")
    parser.add_argument("--lazy-steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--powers", action="store_true", help="fine private chunks off, both")
    args = parser.parse_args()
    other = import_other_scheduler(args.checkout)
    compared, difference = compare(other, args.forests, args.lazy_steps, args.seed, not args.powers)
    if difference:
        raise SystemExit(difference)
    forests = args.forests + len(SPECS)
    print(f"identical: {compared} plans ({len(SHAPES)} shapes x {forests} forests)")


if __name__ == "__main__":
    main()
