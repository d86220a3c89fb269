"""Experiment: fused steps, the lean pair's private part merging in place of the merge launch.

git apply benchmarks/experiments/fused_merge/fused-merge.patch   (on baecf2a; the product has no
    ``fuse_merge``: it was not adopted, README.md)
python benchmarks/experiments/fused_merge/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

Per shape, the default plan with the split forced (as ``../gluon_shared/pair.py``), timed in
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
from graph_timing import checked_medians, run_shapes  # noqa: E402
from providers import HEAD_DIM, batch_for, make_decoder  # noqa: E402
from sglang_pat.kernels.launch import merge_states, pack_decode  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402
from sglang_pat.decoder import PatDecoder  # noqa: E402


def split_decoder(batch, menu, fuse_merge: bool) -> PatDecoder:
    decoder = make_decoder(batch, menu, plan=False, fuse_merge=fuse_merge)
    decoder._splits = lambda plan: plan.num_shared_items > 0  # the split, gate or not
    decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
    return decoder


def pair_fn(batch, decoder: PatDecoder, out: torch.Tensor, *, fused: bool, merge: bool):
    args = (batch.q, batch.k, batch.v, out, decoder.kv_indices, decoder.items, decoder.members)
    args += (decoder.header, decoder.queue, decoder.partial_o, decoder.partial_lse)
    options = dict(menu=decoder.menu, sm_scale=batch.sm_scale, check=False)
    if fused:
        options.update(req_partial_indptr=decoder.req_partial_indptr, done=decoder.done)

    def run() -> None:
        main, side = torch.cuda.current_stream(), decoder._side
        decoder._fork.record(main)
        side.wait_event(decoder._fork)
        with torch.cuda.stream(side):
            pack_decode(*args, num_programs=decoder.num_private_programs, part="private", **options)
        pack_decode(*args, num_programs=decoder.num_programs, part="shared", **options)
        decoder._join.record(side)
        main.wait_event(decoder._join)
        if merge:
            merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)

    return run


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = default_tile_menu(HEAD_DIM, group)
    stock, fused = split_decoder(batch, menu, False), split_decoder(batch, menu, True)
    plan = fused.plan
    if not fused.fused:
        print(f"{shape}: not split, so not fused", flush=True)
        return
    outs = {name: torch.empty_like(batch.q) for name in ("stock", "fused", "no merge")}
    fns = {
        "stock": pair_fn(batch, stock, outs["stock"], fused=False, merge=True),
        "fused": pair_fn(batch, fused, outs["fused"], fused=True, merge=False),
        "no merge": pair_fn(batch, stock, outs["no merge"], fused=False, merge=False),
    }
    medians, errors, line = checked_medians(fns, outs, ("stock", "fused"), flush)
    left = int(fused.done.abs().sum().item())
    print(
        f"{shape}: items {plan.items.shape[0]} (shared {plan.num_shared_items}), "
        f"partials {plan.num_partials}; {line}; "
        f"fused - stock {medians['fused'] - medians['stock']:+.1f} us; "
        f"max |fused - stock| {errors['fused']:.1e}; counters left {left}",
        flush=True,
    )


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:])
