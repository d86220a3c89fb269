"""Does storing the step's new K/V beside the shared part pay? (H200)

    python benchmarks/experiments/kv_store/run.py SHAPE[@Q,KV] ... [--rounds 3]

In a server every decode layer first stores the step's new K/V (SGLang's ``store_kvcache``,
1.8 µs a layer in session 45's profile of gsp 4 × 32), then runs attention. Where the layer
forks into the lean pair, ``PatDecoder.forward(write_kv=...)`` launches the store on the
private part's stream, so the shared part, which never reads the newest tokens, starts at
once. Per shape, in its own process, side by side (CUDA graph, L2 flushed, as
``bench_kernels.py``), the decoder as planned for a graph:
- ``before``: the store, then the layer (the product before the change);
- ``beside``: the store passed to the layer (the product now);
- ``none``: the layer alone, the floor.
The store is ``index_copy_`` of each request's new K and V rows into its newest slot, as
SGLang's. Outputs are compared with ``none``'s. One JSON line a shape.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def one(shape: str, rounds: int) -> dict:
    import numpy as np
    import torch
    from graph_timing import side_by_side_us
    from providers import batch_for, make_decoder

    batch = batch_for(shape)
    decoder = make_decoder(batch)
    rows = torch.as_tensor(batch.pool_rows, device="cuda")
    newest = batch.req_to_token[rows, torch.as_tensor(batch.seq_lens - 1, device="cuda")].long()
    new_k, new_v = batch.k[newest].clone(), batch.v[newest].clone()

    def write_kv() -> None:
        batch.k.index_copy_(0, newest, new_k)
        batch.v.index_copy_(0, newest, new_v)

    outs = {name: torch.empty_like(batch.q) for name in ("before", "beside", "none")}

    def run(name: str) -> None:
        if name == "before":
            write_kv()
        store = write_kv if name == "beside" else None
        decoder.forward(
            batch.q, batch.k, batch.v, outs[name], sm_scale=batch.sm_scale, write_kv=store
        )

    fns = {name: (lambda n=name: run(n)) for name in outs}
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    times = side_by_side_us(fns, flush, rounds)
    us = {name: float(np.median(t)) for name, t in times.items()}
    return dict(
        shape=shape,
        requests=int(batch.q.shape[0]),
        splits=bool(decoder.splits),
        forks=bool(decoder.lean_needed),
        us=us,
        beside_minus_before=us["beside"] - us["before"],
        max_abs_diff={
            name: float((outs[name].float() - outs["none"].float()).abs().max())
            for name in ("before", "beside")
        },
    )


def main() -> None:
    from graph_timing import run_shape_experiment

    run_shape_experiment(__file__, __doc__, one)


if __name__ == "__main__":
    main()
