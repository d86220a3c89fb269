"""Does a merge with more slots in flight, or other head blocks, pay? (H200)

    python benchmarks/experiments/merge_variants/run.py SHAPE[@Q,KV] ... [--rounds 3]
    TRITON_INTERPRET=1 python benchmarks/experiments/merge_variants/run.py --check  # CPU

Per shape, in its own process, side by side (pack + merge, CUDA graph, L2 flushed, as
``bench_kernels.py``): the product's decoder as it is, the same decoder with its merge swapped
for each variant of ``variants.py`` (``h<heads>u<slots>``: heads a program, slots loaded at
once), and the decoder without its merge (``pack``), so that each merge's cost is the
difference. The partials are read as the pack kernels leave them, in L2 or not, as in a
server. Each variant's output is compared with the product's. One JSON line a shape.
``--check`` compares every variant with the product's merge on random slot ranges (0-40
slots a request, 5 and 32 heads), on the CPU under Triton's interpreter.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

VARIANTS = {"h8u2": (8, 2), "h8u4": (8, 4), "h16u1": (16, 1), "h16u4": (16, 4),
            "h32u1": (32, 1), "h32u4": (32, 4), "h4u1": (4, 1)}  # fmt: skip


def one(shape: str, rounds: int) -> dict:
    import numpy as np
    import torch
    from graph_timing import side_by_side_us
    from providers import batch_for, make_decoder
    from variants import merge_variant

    from sglang_pat import decoder as decoder_module

    batch = batch_for(shape)
    decoder = make_decoder(batch)
    product = decoder_module.merge_states
    merges = {"product": product} | {n: merge_variant(*hu) for n, hu in VARIANTS.items()}
    outs = {name: torch.empty_like(batch.q) for name in [*merges, "pack"]}

    def run(name: str) -> None:
        # Captured with this name's merge; put back at once for the next capture.
        decoder_module.merge_states = merges.get(name, product)
        decoder.merge_needed = name != "pack"
        try:
            decoder.forward(batch.q, batch.k, batch.v, outs[name], sm_scale=batch.sm_scale)
        finally:
            decoder_module.merge_states = product
            decoder.merge_needed = True

    fns = {name: (lambda n=name: run(n)) for name in outs}
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    times = side_by_side_us(fns, flush, rounds)
    plan = decoder.plan
    assert plan is not None
    us = {name: float(np.median(t)) for name, t in times.items()}
    return dict(
        shape=shape,
        requests=int(batch.q.shape[0]),
        partials=int(plan.req_partial_indptr[-1]),
        splits=bool(decoder.splits),
        us=us,
        merge_us={name: us[name] - us["pack"] for name in merges},
        max_abs_diff={
            name: float((outs[name].float() - outs["product"].float()).abs().max())
            for name in merges
        },
    )


def check() -> None:
    """Each variant against the product's merge on the CPU (interpreter)."""
    import torch
    from sglang_pat.kernels.launch import merge_states
    from variants import merge_variant

    counts = [0, 1, 2, 3, 4, 5, 7, 16, 17, 40]
    gen = torch.Generator().manual_seed(0)
    for heads in (5, 32):
        slots = sum(counts)
        partial_o = torch.randn(slots, heads, 64, generator=gen)
        partial_lse = 4 * torch.randn(slots, heads, generator=gen)
        indptr = torch.tensor([0, *torch.tensor(counts).cumsum(0).tolist()], dtype=torch.int32)
        expected = torch.full((len(counts), heads, 64), 7.0, dtype=torch.float16)
        merge_states(expected, partial_o, partial_lse, indptr)
        for name, hu in VARIANTS.items():
            out = torch.full_like(expected, 7.0)
            merge_variant(*hu)(out, partial_o, partial_lse, indptr)
            diff = float((out.float() - expected.float()).abs().max())
            print(f"{heads} heads, {name}: max |diff| {diff:.2e}")
            if diff > 2e-3:
                raise SystemExit(f"{name} differs from the product's merge by {diff}")


def main() -> None:
    if "--check" in sys.argv:
        check()
        return
    from graph_timing import run_shape_experiment

    run_shape_experiment(__file__, __doc__, one)


if __name__ == "__main__":
    main()
