"""Experiment: what slows the lean pair's shared part beside the private part, memory or math?

python benchmarks/experiments/contention/remap.py [SHAPE ...]   (SHAPE as providers.batch_for)

In the server (session 60's trace of gsp 4 × 32) the shared part ends 16 µs after the private
part beside it (61.3 against 45.2 µs a layer), and alone it takes about 47 µs. Either the
private part's HBM traffic slows the shared part's gathered K/V loads, or its math and
instructions take the SMs' issue slots and pipes. This keeps every kernel, plan and
instruction of the product and moves only where a part's K/V lives: its slots are remapped
(in ``req_to_token``, before planning) onto 256 slots, so that part reads the L2 instead of
HBM. ``private in L2`` remaps every private position but the new token's, ``shared in L2``
every shared one (the same slot for the same position, so the forest's sharing holds), and
``both`` both. The outputs then differ from the product's (the K/V read differ); only the times
mean anything. Timed in the server-like layer of ``../pdl_after_rope/layer.py`` (the decoder
storing the new K/V, CUDA graphs, alternated three times, medians), after the write flush and
after the read-only flush (``graph_timing.read_flush``).
"""

import copy
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
from graph_timing import PAIR_SHAPES, read_flush, run_shapes  # noqa: E402
from layer import print_forwards  # noqa: E402
from providers import make_decoder  # noqa: E402

SHAPES = PAIR_SHAPES[:6]  # gsp 4 x 32 at serving's tails, 4,128_4096,256
RESIDENT = 256  # slots a remapped part reads: 256 tokens, 1 MiB of K/V at 8 heads x 128


def remapped(batch, private: bool, shared: bool):
    """``batch`` with a copy of its ``req_to_token`` whose private and/or shared positions
    point at ``RESIDENT`` slots (the private ones at slots 0.., the shared ones after them)."""
    out = copy.copy(batch)
    table = batch.req_to_token.clone()
    starts, lens = batch.forest.private_start(), batch.seq_lens
    for request, row in enumerate(batch.pool_rows):
        start, end = int(starts[request]), int(lens[request]) - 1  # the new token's slot stays
        if private and end > start:
            table[row, start:end] = torch_slots(np.arange(end - start) % RESIDENT, table)
        if shared and start:
            table[row, :start] = torch_slots(RESIDENT + np.arange(start) % RESIDENT, table)
    out.req_to_token = table
    return out


def torch_slots(slots: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(slots, dtype=like.dtype, device=like.device)


def remapped_decoders(batch, stock) -> dict:
    """``with_variants``' variants: storing decoders on the batch with remapped slots."""
    return {
        name: make_decoder(remapped(batch, private, shared), stores_new_kv=True)
        for name, private, shared in (
            ("private in L2", True, False),
            ("shared in L2", False, True),
            ("both", True, True),
        )
    }


def run_shape(shape: str, flush) -> None:
    print_forwards(shape, remapped_decoders, {"write": flush, "read": read_flush(flush)})


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
