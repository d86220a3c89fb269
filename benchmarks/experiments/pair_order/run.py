"""Experiment: the lean pair's launch order, shared part first, after three kinds of flush.

python benchmarks/experiments/pair_order/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

The decoder forks the private part onto its side stream first and then launches the shared
part (session 19, ``../kept_whole/``: split plans measured up to 10% faster that way, after
the benchmarks' write flush). Session 63's ``../shared_rows/`` run saw the other order 2.2-3.8
µs a layer faster on gsp 4 × 32's batches after a read-only flush, and 3.2-4.8 µs slower after
the write flush. A server's attention follows the QKV GEMM, which leaves the L2 holding clean
weight lines, as the read-only flush does. This times the product's forward against the same
pair launched shared part first (``layer.shared_first``), in the
server-like layer of ``../pdl_after_rope/layer.py`` (CUDA graphs, alternated three times,
medians), after the write flush, the read-only flush and no flush.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
from graph_timing import PAIR_SHAPES, read_flush, run_shapes  # noqa: E402
from layer import print_after_flushes, shared_first, split_layer, storing  # noqa: E402

# gsp 4 x 32 at serving's tails and 4,128_4096,256; then session 19's three split plans
SHAPES = PAIR_SHAPES[:6] + [
    "1,4,16,512_1024,256,128,32@32,32",
    "8,16,32,256_256,128,64,32@16,8",
    "1,10_4096,416",
]


def run_shape(shape: str, flush) -> None:
    split = split_layer(shape)
    if split is None:
        return
    _, server, decoder = split
    forwards = {"private first": storing(decoder), "shared first": shared_first(decoder)}
    flushes = {"write": flush, "read": read_flush(flush), "none": lambda: None}
    print_after_flushes(server, shape, forwards, flushes)


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
