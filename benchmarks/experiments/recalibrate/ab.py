"""Experiment: do the cost model's constants, calibrated before the kernel got faster, still plan
well? pat (pack + merge) planned with several ``CostModel`` variants, side by side in one run.

python benchmarks/experiments/recalibrate/ab.py CALIBRATION_JSON [WORKLOAD[@Q,KV] ...]

Variants: ``stock`` (``CostModel()``), ``calib`` (the constants of CALIBRATION_JSON, written by
``benchmarks/calibrate_cost_model.py`` in the same session), and ``flops×k`` (stock with the dot
rate scaled by k, k from $SCALES, default 1.5,2.0). Each plan is timed in a CUDA graph after
an L2 flush, the variants alternated twice; the outputs are compared with the stock plan's.
Plans that are identical are reported so.
"""

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import decoders_side_by_side, side_by_side_text  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402

from sglang_pat.cost_model import CostModel  # noqa: E402

SHAPES = [
    "1,64_4096,512",
    "1,256_2048,32",
    "4,128_4096,256",
    "16,256_2048,256",
    "1,128_4096,384",
    "1,4,256_32,256,32",
    "1,8,512_32,512,256",
    "1,10_4096,416@64,8",
    "1,2,64_1024,256,256@64,8",
    "64_512",
    "6_3300",
    "1_3300",
]


SCALES = [float(s) for s in os.environ.get("SCALES", "1.5,2.0").split(",")]


def variants(calibration: dict) -> dict[str, CostModel]:
    stock = CostModel()
    keys = [f.name for f in dataclasses.fields(CostModel)]
    out = {"stock": stock, "calib": CostModel(**{k: calibration[k] for k in keys})}
    for scale in SCALES:
        out[f"flops*{scale}"] = dataclasses.replace(
            stock, dot_flops_per_us=stock.dot_flops_per_us * scale
        )
    return out


def main() -> None:
    calibration = json.loads(Path(sys.argv[1]).read_text())
    shapes = sys.argv[2:] or SHAPES
    costs = variants(calibration)
    print({name: dataclasses.asdict(c) for name, c in costs.items()}, flush=True)
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    for shape in shapes:
        batch = batch_for(shape)
        decoders = {name: make_decoder(batch, cost=cost) for name, cost in costs.items()}
        plans = {name: decoder.plan for name, decoder in decoders.items()}
        times, outs = decoders_side_by_side(batch, decoders, flush)
        stock_plan = plans["stock"]
        for name in costs:
            plan = plans[name]
            same = plan.items.shape == stock_plan.items.shape and np.array_equal(
                plan.items, stock_plan.items
            )
            print(
                f"{shape:28s} {name:10s} "
                f"{side_by_side_text(times[name], outs[name], outs['stock'])} "
                f"items {plan.items.shape[0]:5d} partials {plan.num_partials:6d}"
                f"{' same plan' if same else ''}",
                flush=True,
            )
        del batch, decoders, outs
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
