"""Experiment: the lean pair's warps and the shared part's stages, in a layer, with two flushes.

python benchmarks/experiments/lean_warps/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

In the server (session 60's trace of gsp 4 × 32) the shared part (one 4-warp program an SM)
ends 16 µs after the private part (two 4-warp programs an SM): 61.3 against 45.2 µs a layer,
where the shared part alone takes about 47 µs. On each SM sub-partition its one warp shares
the issue slots with two private-part warps. This varies, in the server-like layer of
``../pdl_after_rope/layer.py`` (the decoder storing the new K/V, CUDA graphs, alternated three
times, medians):
- ``priv w2``: the private part on 2 warps a program (one private warp a sub-partition),
  capped at 192 registers;
- ``shared s4``: the shared part's 64-key tiles on 4 K/V stages instead of 3 (144 KB, still
  beside two private programs), a deeper prefetch for loads slowed by the private part's;
- both.
Each shape is timed after the benchmarks' write flush (``zero_`` of 256 MiB, whose dirty
lines are written back during the timed call) and after a read-only flush
(``graph_timing.read_flush``). Plans do not depend on these builds, so every variant runs
the same plan.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
from graph_timing import PAIR_SHAPES, read_flush, run_shapes  # noqa: E402
from layer import lean_build, menu_variants, print_forwards  # noqa: E402

SHAPES = PAIR_SHAPES[:8]  # gsp 4 x 32 at serving's tails, 4,128_4096,256, worked example, fan-out
# name -> (private-part warps, their register cap, shared-part stages) beside the product's
# (4, 128, 3). At 2 warps and 128 registers the private build spills (136 B of stack); at 192
# it does not, and two such programs still fit beside a 255-register shared-part program.
BUILDS = {"priv w2": (2, 192, 3), "shared s4": (4, 128, 4), "w2 s4": (2, 192, 4)}


def run_shape(shape: str, flush) -> None:
    builds = {
        name: lean_build(stages, num_warps=warps, max_registers=registers)
        for name, (warps, registers, stages) in BUILDS.items()
    }
    print_forwards(shape, menu_variants(builds), {"write": flush, "read": read_flush(flush)})


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
