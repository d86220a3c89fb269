"""Experiment: fused steps, the lean pair's private part merging in place of the merge launch.

git apply benchmarks/experiments/fused_merge/fused-merge.patch   (on baecf2a; the product has no
    ``fuse_merge``: it was not adopted, README.md)
python benchmarks/experiments/fused_merge/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

Per shape, the default plan with the split forced (``providers.splitting_every_plan``), timed in
CUDA graphs after the benchmarks' flush, the variants alternated three times (median each):
- ``stock``: the decoder's pair (private part on the side stream, shared part, join), then
  the merge launch;
- ``fused``: the same pair with ``done`` and the header's fused flag: every unit counts the
  partials it stores, the one storing a request's last partial merges it, no merge launch;
- ``no merge``: the stock pair alone, whose output is wrong: the floor a fused step could
  reach.
The fused output's max |difference| from the stock one is printed beside it, and what the
counters hold after the runs (zero).

Session 50 first tried a private part that waited (spun) for the shared units' counts: on the
H200 its first launch hung (the private programs spinning where the shared ones had to run),
so no unit waits now.
"""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import checked_medians, items_text, run_shapes  # noqa: E402
from providers import (  # noqa: E402
    HEAD_DIM,
    batch_for,
    forked_pair,
    make_decoder,
    splitting_every_plan,
)

from sglang_pat.cost_model import default_tile_menu  # noqa: E402


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = splitting_every_plan(default_tile_menu(HEAD_DIM, group))
    stock, fused = make_decoder(batch, menu), make_decoder(batch, menu, fuse_merge=True)
    plan = fused.plan
    if not fused.fused:
        print(f"{shape}: not split, so not fused", flush=True)
        return
    outs = {name: torch.empty_like(batch.q) for name in ("stock", "fused", "no merge")}
    fusing = dict(req_partial_indptr=fused.req_partial_indptr, done=fused.done)
    fns = {
        "stock": forked_pair(batch, stock, outs["stock"], merge=True),
        "fused": forked_pair(batch, fused, outs["fused"], merge=False, **fusing),
        "no merge": forked_pair(batch, stock, outs["no merge"], merge=False),
    }
    medians, errors, line = checked_medians(fns, outs, ("stock", "fused"), flush)
    left = int(fused.done.abs().sum().item())
    print(
        f"{shape}: {items_text(plan)}, partials {plan.num_partials}; {line}; "
        f"fused - stock {medians['fused'] - medians['stock']:+.1f} us; "
        f"max |fused - stock| {errors['fused']:.1e}; counters left {left}",
        flush=True,
    )


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:])
