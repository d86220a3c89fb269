"""The lean kernel's side stream against PyTorch's stream pool (session 23, H200).

    python benchmarks/experiments/stream_pool/exp.py SHAPE [SHAPE ...] [--rounds 3]

Per shape, in a process of its own, the same planned decoder (pack + merge, CUDA graphs, L2
flushed, as ``bench_kernels.py``) with its private part forked to:
- ``dedicated``: the decoder's own stream (``sglang_pat/streams.py``, the product);
- ``pooled``: a ``torch.cuda.Stream()`` from PyTorch's pool that is not the capture stream
  (the product before this session, when the pool had not come round);
- ``collided``: the pool's stream that ``torch.cuda.graph`` captures on, which a pooled side
  stream becomes once 32 streams were handed out after it (the pool's size, checked here).

Prints one JSON line per shape: µs of each round, max |out - dedicated's out|.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from graph_timing import decoders_side_by_side, run_shape_experiment  # noqa: E402
from providers import HEAD_DIM, batch_for, make_decoder  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402


def pool_size() -> int:
    """How many ``torch.cuda.Stream()`` calls until the pool hands out the first one again."""
    first = torch.cuda.Stream()
    for n in range(1, 1000):
        if torch.cuda.Stream().cuda_stream == first.cuda_stream:
            return n
    return -1


def one(shape: str, rounds: int) -> dict:
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = default_tile_menu(HEAD_DIM, group)
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):  # makes torch.cuda.graph's default capture stream
        pass
    capture = torch.cuda.graphs.graph.default_capture_stream
    decoders = {name: make_decoder(batch, menu) for name in ("dedicated", "pooled", "collided")}
    pooled = torch.cuda.Stream()
    assert pooled.cuda_stream != capture.cuda_stream
    decoders["pooled"].side.stream = pooled
    decoders["collided"].side.stream = capture
    dedicated = decoders["dedicated"].side.stream
    times, outs = decoders_side_by_side(batch, decoders, flush, rounds)
    return dict(
        shape=shape,
        lean_needed=decoders["dedicated"].lean_needed,
        pool_size=pool_size(),
        dedicated_in_pool=any(
            torch.cuda.Stream().cuda_stream == dedicated.cuda_stream for _ in range(64)
        ),
        us=times,
        max_diff={
            name: float((out.float() - outs["dedicated"].float()).abs().max())
            for name, out in outs.items()
        },
    )


if __name__ == "__main__":
    run_shape_experiment(__file__, __doc__, one)
