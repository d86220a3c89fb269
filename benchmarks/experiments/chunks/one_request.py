"""Experiment: single-request decode steps, pat's chunk floor of 256 tokens against 128, beside
FlashInfer decode.

    python benchmarks/experiments/chunks/one_request.py 1_1000 1_2000 1_3256 1_6000 2_3256

Why: one running request is the Mooncake replay's commonest batch, and the only batch size
where session 31's in-server profiles put pat's step behind flashinfer's (+0.9%, attention
17.2 against 15.4 us a layer; `benchmarks/results/2026-12-01-NVIDIA-H200/session31.md`). With
`PackScheduler(min_chunk_tokens=256)`, the default, 1 x 3256 is 13 chunks x 8 KV heads = 104
units on 264 programs; with a floor of 128 the cost model picks 128-token chunks for one
request up to about 3,300 tokens (26 x 8 = 208 units, twice the partials to merge), and the
same chunks as before from 6,000 tokens or two requests on.

Each shape in a process of its own (``graph_timing.run_shape_experiment``), the three
alternated ``--rounds`` times in CUDA graphs after the flush, merge included (PDL merge, as a
graph of fewer than 16 requests runs it in the server). One JSON line a shape: µs per round,
each plan's items and partials, max |out - FlashInfer's out|.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from graph_timing import decoder_fns, run_shape_experiment  # noqa: E402
from providers import HEAD_DIM, batch_for, beside_flashinfer_decode, make_decoder  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402

FLOORS = (256, 128)


def one(shape: str, rounds: int) -> dict:
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    decoders, plans = {}, {}
    for floor in FLOORS:
        decoder = make_decoder(batch, default_tile_menu(HEAD_DIM, group), plan=False)
        decoder.scheduler.min_chunk_tokens = floor
        plan = decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
        name = f"pat floor {floor}"
        plans[name] = dict(items=int(plan.items.shape[0]), partials=int(plan.num_partials))
        decoders[name] = decoder
    fns, outs = decoder_fns(batch, decoders)
    return dict(shape=shape, plans=plans, **beside_flashinfer_decode(batch, fns, outs, rounds))


if __name__ == "__main__":
    run_shape_experiment(__file__, __doc__, one)
