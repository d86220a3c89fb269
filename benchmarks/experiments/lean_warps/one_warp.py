"""Experiment: the private part on one warp a program, two or three programs an SM.

python benchmarks/experiments/lean_warps/one_warp.py [SHAPE ...]   (SHAPE as providers.batch_for)

``../contention/parts.py`` found the private part alone almost as slow with its K/V in the L2
as in HBM (gsp 4 × 32 at tails 256: 56.7 against 60.8 µs a layer): it is not bound by memory.
Its 16-row tiles on 4 warps split each block's 16 × 32 scores across the warps, so every block
takes cross-warp reductions and a layout change of P through shared memory (9 barriers a
block in the SASS). One warp holds the whole tile and needs none of them. This times, in the
server-like layer with the read-only flush, the private part alone and the product's forward
for private-part builds (warps, register cap, programs an SM): the product's (4, 128, 2),
(1, 255, 2), (1, 255, 3) and (2, 160, 3) (none spills; one shared-part program still fits
beside each). The programs an SM set only the private launch's grid and the lean gate's
estimate; the plans of these shapes stay split, and the same.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "contention"))
from graph_timing import PAIR_SHAPES, read_flush, run_shapes  # noqa: E402
from layer import lean_build, menu_variants, storing, with_variants  # noqa: E402
from parts import one_part  # noqa: E402

SHAPES = PAIR_SHAPES[:8]
BUILDS = {"w1x2": (1, 255, 2), "w1x3": (1, 255, 3), "w2x3": (2, 160, 3)}


def run_shape(shape: str, flush) -> None:
    builds = {
        name: lean_build(num_warps=warps, max_registers=registers, programs_per_sm=programs)
        for name, (warps, registers, programs) in BUILDS.items()
    }
    layer = with_variants(shape, menu_variants(builds))
    if layer is None:
        return
    _, server, decoders = layer
    stock = decoders["product"]
    for name, decoder in list(decoders.items())[1:]:
        same = decoder.splits and decoder.items.equal(stock.items)
        print(f"{shape}: {name} plan split and the same as the product's: {same}", flush=True)
    forwards = {name: storing(decoder) for name, decoder in decoders.items()}
    medians, errors, line = server.time_attentions(forwards, read_flush(flush))
    print(f"{shape} forward: {line}; max |difference| {errors}", flush=True)
    alone = {name: one_part(decoder, "private") for name, decoder in decoders.items()}
    _, _, line = server.time_attentions(alone, read_flush(flush))
    print(f"{shape} private part alone: {line}", flush=True)


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
