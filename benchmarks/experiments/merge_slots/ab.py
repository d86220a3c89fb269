"""Experiment: the two merge builds side by side on the same plans.

    python benchmarks/experiments/merge_slots/ab.py 1_1000 1_3256 2_3256 8_3256 1_3256@64,8

Why: the slots-at-once merge (16 slots loaded at once, 2 heads a program; then the kernel
``_merge_slots_kernel``, now ``_merge_states_kernel``'s ``SLOTS_AT_ONCE`` build) was what the
decoder launched under ``PDL_MAX_BATCH`` requests on branch merge-slots; session 32 and 33's chain
measured it against main's merge on different machines, an hour or a day apart, where a few
tenths of a µs are within the drift. Here one decoder plans the shape once and its forward is
captured twice, the merge forced to each build (``sglang_pat.decoder.merge_states`` wrapped
while the graph is captured), beside FlashInfer decode, alternated ``--rounds`` times in CUDA
graphs after the flush. One JSON line a shape, each in a process of its own: µs per round, the
plan's items and partials, max |out - FlashInfer's out| of each.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from graph_timing import run_shape_experiment  # noqa: E402
from providers import batch_for, beside_flashinfer_decode, make_decoder  # noqa: E402

import sglang_pat.decoder as decoder_module  # noqa: E402

BUILDS = {"slot-by-slot": False, "slots-at-once": True}


def one(shape: str, rounds: int) -> dict:
    import torch

    batch = batch_for(shape)
    decoder = make_decoder(batch)
    stock_merge = decoder_module.merge_states

    def forward(out: torch.Tensor, slots_at_once: bool) -> None:
        decoder_module.merge_states = lambda *a, **k: stock_merge(
            *a, **{**k, "slots_at_once": slots_at_once}
        )
        try:
            decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
        finally:
            decoder_module.merge_states = stock_merge

    outs = {name: torch.empty_like(batch.q) for name in BUILDS}
    fns = {name: lambda n=name: forward(outs[n], BUILDS[n]) for name in BUILDS}
    plan = decoder.plan
    return dict(
        shape=shape,
        items=int(plan.items.shape[0]),
        partials=int(plan.num_partials),
        merge_needed=bool(decoder.merge_needed),
        **beside_flashinfer_decode(batch, fns, outs, rounds),
    )


if __name__ == "__main__":
    run_shape_experiment(__file__, __doc__, one)
