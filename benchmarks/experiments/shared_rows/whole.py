"""Experiment: a 128-row × 32-key tile added to the menu, on issue 2's batches.

python benchmarks/experiments/shared_rows/whole.py [SHAPE ...]   (SHAPE as providers.batch_for)

``run.py``'s ``rows128w4`` menu (the product's 4 warps with a fourth tile of 128 rows × 32
keys) on batches whose prefixes have 32+ requests: the worked example and the wide fan-out
(plans the gate keeps whole) and gsp 4 × 32's batch, timed as ``bench_kernels.py`` times pat
(the decoder planned as for a graph, its forward in CUDA graphs after the benchmarks' write
flush), the two menus alternated three times.
"""

import dataclasses
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import decoders_side_by_side, items_text, run_shapes  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402

from sglang_pat.cost_model import TileConfig  # noqa: E402

SHAPES = ["1,64_4096,512", "1,256_2048,32", "4,128_4096,256", "1,128_4096,384"]


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    stock = make_decoder(batch)
    menu = dataclasses.replace(stock.menu, tiles=stock.menu.tiles + (TileConfig(128, 32),))
    decoders = {"product": stock, "rows128w4": make_decoder(batch, menu=menu)}
    plans = {name: d.plan for name, d in decoders.items()}
    times, outs = decoders_side_by_side(batch, decoders, flush, rounds=3)
    medians = {name: statistics.median(us) for name, us in times.items()}
    diff = (outs["rows128w4"].float() - outs["product"].float()).abs().max().item()
    text = ", ".join(
        f"{name} {us:6.1f} ({items_text(plans[name])})" for name, us in medians.items()
    )
    print(f"{shape}: {text} us; max |difference| {diff:.1e}", flush=True)


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
