"""Experiment: the lean pair's private part as the shared part's programmatic dependent,
folding each request's shared partials into its own state: no merge launch.

git apply benchmarks/experiments/pdl_fold/pdl-fold.patch   (on 3b9ebb6; kernels:
    ``pack_decode(..., trigger=True)`` on the shared part, ``dependent=True, fold_indptr=`` on
    the private part; the decoder's opt-in ``one_stream_pair``. Not adopted: README.md)
python benchmarks/experiments/pdl_fold/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

Session 50's fused merge (../fused_merge/) could not let a private unit wait for the shared
units: nothing promised that the shared part's programs were resident while private ones
spun. A programmatic dependent launch promises it: the private grid starts only once every
shared program has run ``griddepcontrol.launch_dependents`` (its first instruction here), so
``griddepcontrol.wait`` in a private unit's epilogue always returns.

Per shape, the default plan with the split forced, timed in CUDA graphs after the benchmarks'
flush, the variants alternated three times (median each):
- ``stock``: the decoder's pair (private part on the side stream, shared part, join), merge;
- ``fold``: shared part (trigger), then on the same stream the private part launched as its
  dependent: each unit computes its rows' tails, waits for the shared grid, folds the
  request's shared slots and writes the output; no merge launch;
- ``dependent + merge``: the same two launches, the private part not folding, then the
  merge (what the launch order alone costs);
- ``no merge``: the stock pair alone (a wrong output): the floor without the merge.
Only plans where every request has exactly one private unit, its last slot, can fold; others
are reported and skipped.
"""

import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import side_by_side_us  # noqa: E402
from providers import HEAD_DIM, batch_for, make_decoder  # noqa: E402
from sglang_pat.kernels.launch import merge_states, pack_decode  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402
from sglang_pat.decoder import PatDecoder  # noqa: E402
from sglang_pat.plan import PackPlan  # noqa: E402


def split_decoder(batch, menu) -> PatDecoder:
    decoder = make_decoder(batch, menu, plan=False)
    decoder._splits = lambda plan: plan.num_shared_items > 0  # the split, gate or not
    decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
    return decoder


def why_not_foldable(plan: PackPlan) -> str | None:
    """None when every request with partials has one private unit, writing its last slot."""
    units = np.zeros(plan.num_requests, dtype=np.int64)
    last_ok = np.ones(plan.num_requests, dtype=bool)
    indptr = plan.req_partial_indptr
    for _, _, first, count, chunk, _ in plan.items[plan.num_shared_items :]:
        for batch, slot_base, *_ in plan.members[first : first + count]:
            units[batch] += 1
            if slot_base >= 0:
                last_ok[batch] &= slot_base + max(chunk, 0) == indptr[batch + 1] - 1
    has_partials = np.diff(indptr) > 0
    if (units[has_partials] != 1).any():
        return f"requests with {sorted(set(units[has_partials].tolist()))} private units"
    if not last_ok.all():
        return "a private unit that does not write its request's last slot"
    return None


def pair_fn(batch, decoder: PatDecoder, out: torch.Tensor, *, variant: str):
    args = (batch.q, batch.k, batch.v, out, decoder.kv_indices, decoder.items, decoder.members)
    args += (decoder.header, decoder.queue, decoder.partial_o, decoder.partial_lse)
    options = dict(menu=decoder.menu, sm_scale=batch.sm_scale, check=False)

    def stock() -> None:
        main, side = torch.cuda.current_stream(), decoder._side
        decoder._fork.record(main)
        side.wait_event(decoder._fork)
        with torch.cuda.stream(side):
            pack_decode(*args, num_programs=decoder.num_private_programs, part="private", **options)
        pack_decode(*args, num_programs=decoder.num_programs, part="shared", **options)
        decoder._join.record(side)
        main.wait_event(decoder._join)
        if variant == "stock":
            merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)

    def fold() -> None:
        shared = dict(num_programs=decoder.num_programs, part="shared", trigger=True)
        pack_decode(*args, **shared, **options)
        pack_decode(
            *args, num_programs=decoder.num_private_programs, part="private",
            fold_indptr=decoder.req_partial_indptr, **options,
        )  # fmt: skip

    return fold if variant == "fold" else stock


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    decoder = split_decoder(batch, default_tile_menu(HEAD_DIM, group))
    plan = decoder.plan
    reason = why_not_foldable(plan) if decoder.splits else "not split"
    if reason:
        print(f"{shape}: cannot fold: {reason}", flush=True)
        return
    decoder._section(decoder._plan_buffer, "header")[3] = 1  # the fold flag: fold build only
    variants = ("stock", "fold", "dependent + merge", "no merge")
    outs = {name: torch.empty_like(batch.q) for name in variants}
    fns = {name: pair_fn(batch, decoder, outs[name], variant=name) for name in variants}
    for name in ("stock", "fold", "dependent + merge"):
        outs[name].fill_(float("nan"))
        fns[name]()
    torch.cuda.synchronize()
    err = (outs["fold"].float() - outs["stock"].float()).abs().max().item()
    err_dep = (outs["dependent + merge"].float() - outs["stock"].float()).abs().max().item()
    times = side_by_side_us(fns, flush, rounds=3)
    medians = {name: statistics.median(us) for name, us in times.items()}
    print(
        f"{shape}: items {plan.items.shape[0]} (shared {plan.num_shared_items}), "
        f"partials {plan.num_partials}; "
        + ", ".join(f"{name} {us:6.1f}" for name, us in medians.items())
        + f" us; fold - stock {medians['fold'] - medians['stock']:+.1f} us; "
        f"max |fold - stock| {err:.1e}, |dependent - stock| {err_dep:.1e}",
        flush=True,
    )


if __name__ == "__main__":
    shapes = sys.argv[1:] or [
        "gsp:4x32:4096+140:b128:s0",
        "gsp:4x32:4096+208:b128:s0",
        "gsp:4x32:4096+256:b128:s0",
        "gsp:4x32:4096+300:b128:s0",
        "gsp:4x32:4096+368:b128:s0",
        "4,128_4096,256",
        "1,64_4096,512",
        "1,256_2048,32",
        "gsp:64x16:2048+256:b256:s0",
    ]
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    print(f"# {torch.cuda.get_device_name()}, {sys.argv}", flush=True)
    for shape in shapes:
        run_shape(shape, flush)
        torch.cuda.empty_cache()
