"""Experiment: the lean pair's private-part build, keys a block and pipeline stages, in a layer.

python benchmarks/experiments/lean_stages/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

The private part (``cost_model.LeanKernel``: 32-key blocks, 3 stages, 128 registers, two
programs an SM beside one shared-part program) was chosen in session 16 on kernels without
the new K/V store, timed alone or forked without a layer around them; 4 stages at four
programs an SM measured slower alone (``../two_kernels/results/exp1.txt``). Since session 52
each private unit stores its requests' new K/V before its loads. Here the build is varied in
the server-like layer of ``../pdl_after_rope/layer.py`` (the decoder storing, CUDA graphs
after the flush, alternated three times, medians). Plans do not depend on the build (the
planner reads neither ``LeanKernel.block_n`` nor its stages), so every variant runs the same
plan. By shared memory, one shared-part program (112 KB) and two private ones still fit on
an SM at 4 stages of 32 keys (about 53 KB each); the 128-register cap stays.
"""

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
from graph_timing import PAIR_SHAPES, run_shapes  # noqa: E402
from layer import against_first, split_layer, storing  # noqa: E402
from providers import make_decoder  # noqa: E402

SHAPES = PAIR_SHAPES[:7]  # gsp 4 x 32 at serving's tails, 4,128_4096,256, the worked example
# name -> (keys a block, stages) of the private-part build beside the product's (32 keys, 3)
BUILDS = {"n32 s4": (32, 4), "n32 s2": (32, 2), "n64 s2": (64, 2)}


def run_shape(shape: str, flush) -> None:
    split = split_layer(shape)
    if split is None:
        return
    batch, server, stock = split
    decoders = {"n32 s3": stock}
    for name, (block_n, stages) in BUILDS.items():
        lean = dataclasses.replace(stock.menu.lean, block_n=block_n, num_stages=stages)
        menu = dataclasses.replace(stock.menu, lean=lean)
        decoders[name] = make_decoder(batch, menu=menu, stores_new_kv=True)
    attentions = {name: storing(decoder) for name, decoder in decoders.items()}
    medians, errors, line = server.time_attentions(attentions, flush)
    print(f"{shape}: {line}; {against_first(medians, errors)}", flush=True)


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
