"""Plans of the current planner against another commit's, array for array (CPU only).

python benchmarks/experiments/planner/compare_plans.py COMMIT [SEED ...]

For each seed: 2,000 random forests and 13 tree specs (random tail lengths) × 3 model shapes,
each planned cold and then 3 lazy steps. Exits 1 at the first difference.
Used to show that session 7's planner speed-ups (fb1ddda, 541799a, 5d8d41b) left the plans
unchanged: ``compare_plans.py 8bf653a 11 12``.
"""

import importlib
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
from forests import random_forest  # noqa: E402

from sglang_pat.forest import PrefixForest  # noqa: E402
from sglang_pat.scheduler import PackScheduler  # noqa: E402

FIELDS = ("segments", "items", "members", "req_partial_indptr", "num_kv_indices")
SPECS = [
    "1,4,16,256_1024,256,128,32",
    "1,4,256_32,256,32",
    "1,256_4096,512",
    "256_4096",
    "1,1024_4096,512",
    "1,4,16,1024_1024,256,128,32",
    "64_4096",
    "1,64_4096,512",
    "1,256_2048,32",
    "4,128_4096,256",
    "1,10_4096,416",
    "6_3300",
    "2,8,512_32,2048,256",
]


def old_package(commit: str, into: Path):
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "sglang_pat"], capture_output=True, check=True
    ).stdout
    tarfile.open(fileobj=BytesIO(archive)).extractall(into, filter="data")
    (into / "sglang_pat").rename(into / "sglang_pat_old")
    sys.path.insert(0, str(into))
    return (
        importlib.import_module("sglang_pat_old.scheduler"),
        importlib.import_module("sglang_pat_old.forest"),
    )


def same(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def main() -> None:
    commit, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]] or [0]
    with tempfile.TemporaryDirectory() as tmp:
        old, old_forest = old_package(commit, Path(tmp))
        for seed in seeds:
            rng = np.random.default_rng(seed)
            base = dict(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
            shapes = [base, dict(base, group_size=1), dict(base, group_size=16, num_sms=8)]
            forests = [random_forest(rng, 14, bool(i % 2)) for i in range(2000)]
            for spec in SPECS:
                f = PrefixForest.from_tree_spec(spec)
                forests.append(f.with_seq_lens(f.seq_lens + rng.integers(0, 300, f.num_requests)))
            for shape in shapes:
                planners = old.PackScheduler(**shape), PackScheduler(**shape)
                for i, forest in enumerate(forests):
                    arrays = (forest.node_start, forest.node_end, forest.node_parent,
                              forest.node_rep, forest.req_node, forest.seq_lens)  # fmt: skip
                    pair = [old_forest.PrefixForest(*arrays), forest]
                    pool = np.arange(forest.num_requests) + 1
                    for step in range(4):
                        plans = [p.plan(f, pool) for p, f in zip(planners, pair)]
                        if not same(*plans):
                            sys.exit(f"seed {seed}, forest {i}, {shape}, step {step}: differs")
                        pair = [f.with_seq_lens(f.seq_lens + 1) for f in pair]
            print(f"seed {seed}: {len(forests)} forests × 3 shapes, cold + 3 lazy steps: same")


if __name__ == "__main__":
    main()
