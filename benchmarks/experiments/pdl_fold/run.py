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
from sglang_pat.kernels.launch import merge_states, pack_decode  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402
from sglang_pat.decoder import PatDecoder  # noqa: E402


def pair_fn(batch, decoder: PatDecoder, out: torch.Tensor, *, variant: str):
    if variant not in ("fold", "dependent + merge"):
        return forked_pair(batch, decoder, out, merge=variant == "stock")
    args = (batch.q, batch.k, batch.v, out, decoder.kv_indices, decoder.items, decoder.members)
    args += (decoder.header, decoder.queue, decoder.partial_o, decoder.partial_lse)
    options = dict(menu=decoder.menu, sm_scale=batch.sm_scale, check=False)
    fold = variant == "fold"

    def one_stream() -> None:
        shared = dict(num_programs=decoder.num_programs, part="shared", trigger=True)
        pack_decode(*args, **shared, **options)
        pack_decode(
            *args, num_programs=decoder.num_private_programs, part="private", dependent=True,
            fold_indptr=decoder.req_partial_indptr if fold else None, **options,
        )  # fmt: skip
        if not fold:
            merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)

    return one_stream


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    decoder = make_decoder(batch, splitting_every_plan(default_tile_menu(HEAD_DIM, group)))
    plan = decoder.plan
    if not (decoder.splits and plan.private_units_fold()):
        print(
            f"{shape}: cannot fold (not split, or a request with several private units)", flush=True
        )
        return
    decoder.header[3] = 1  # the fold flag (the decoder's own is off: one_stream_pair=False)
    variants = ("stock", "fold", "dependent + merge", "no merge")
    outs = {name: torch.empty_like(batch.q) for name in variants}
    fns = {name: pair_fn(batch, decoder, outs[name], variant=name) for name in variants}
    medians, errors, line = checked_medians(fns, outs, variants[:3], flush)
    print(
        f"{shape}: {items_text(plan)}, partials {plan.num_partials}; {line}; "
        f"fold - stock {medians['fold'] - medians['stock']:+.1f} us; "
        f"max |fold - stock| {errors['fold']:.1e}, "
        f"|dependent - stock| {errors['dependent + merge']:.1e}",
        flush=True,
    )


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:])
