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
import atexit
import dataclasses
import importlib
import importlib.util
import itertools
import shutil
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from forests import random_forest  # noqa: E402

from sglang_pat.forest import PrefixForest  # noqa: E402
from sglang_pat.scheduler import PackScheduler  # noqa: E402

# (KV heads, GQA group, head_dim, SMs)
SHAPES = [(8, 4, 128, 132), (32, 1, 64, 8), (8, 16, 256, 132), (4, 8, 128, 20)]
SPECS = ["1,4,16,256_1024,256,128,32", "1,64_4096,512", "256_4096", "1,4,1024_32,256,32"]
SPECS += ["4,128_4096,256", "1,10_4096,416", "64,256_2048,178"]


_IMPORTS = itertools.count()


def import_other_scheduler(checkout: Path):
    """The other checkout's ``sglang_pat.scheduler``, imported beside this one's as package
    ``otherN_sglang_pat`` (N counts the imports in this process).

    numba finds a compiled function's environment by its qualified name, so two
    ``sglang_pat.emit_rows`` in one process clash (a call into the second copy, loaded from its
    numba cache, failed with "NRT_adapt_ndarray_to_python: descr is NULL"). Each copy therefore
    runs under a name of its own, and compiles into a cache directory of its own: machine code
    it cached under its usual name would carry that name back in. While it is imported,
    ``sglang_pat`` cannot be, so an absolute import inside it raises instead of binding to
    this checkout's modules.
    """
    init = checkout / "sglang_pat" / "__init__.py"
    name = f"other{next(_IMPORTS)}_sglang_pat"
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)]
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"no sglang_pat package under {checkout}")
    ours = {
        module: sys.modules.pop(module)
        for module in list(sys.modules)
        if module.startswith("sglang_pat")
    }
    sys.modules["sglang_pat"] = None  # type: ignore[assignment]  # import raises ImportError
    cache_dir = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = tempfile.mkdtemp(prefix="other-sglang-pat-numba-")
    atexit.register(shutil.rmtree, numba.config.CACHE_DIR, ignore_errors=True)
    try:  # numba picks a function's cache directory as it is decorated: at this import
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
        other = importlib.import_module(f"{name}.scheduler")
    finally:
        numba.config.CACHE_DIR = cache_dir
        del sys.modules["sglang_pat"]
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
