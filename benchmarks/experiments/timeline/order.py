"""Experiment: does the order in which programs take items matter? (after timeline/run.py)

python benchmarks/experiments/timeline/order.py [WORKLOAD[@Q,KV] ...]

The stock plan's items permuted (each item is independent: its members, slots and KV are
unchanged), then pack + merge timed in a CUDA graph after an L2 flush, the orders alternated
twice; outputs compared with the stock order's:

- ``stock``: shared items by decreasing cost, then the private items, then the packed tails;
- ``private-first``: the private items and packed tails first, then the shared items;
- ``interleaved``: private (and packed-tail) items and shared items alternate, in proportion
  to their counts;
- ``lpt``: every item by decreasing estimated time per unit (longest first), the estimate being
  the cost model's (span × token cost of its tile + item overhead; packed tails: their longest
  tail × members × the private token cost).
"""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from graph_timing import decoders_side_by_side, side_by_side_text  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402

from sglang_pat.decoder import PatDecoder  # noqa: E402

SHAPES = [
    "1,10_4096,416@64,8",
    "1,10_4096,416",
    "1,64_4096,512",
    "1,256_2048,32",
    "4,128_4096,256",
    "1,128_4096,384",
    "1,8,512_32,512,256",
    "1,2,64_1024,256,256@64,8",
    "1,4,256_32,256,32",
    "4,16,256,512_256,128,64,32@64,8",
]


def orders(items: np.ndarray, decoder: PatDecoder) -> dict[str, np.ndarray]:
    sched = decoder.scheduler
    token_cost = np.asarray(sched.token_cost)
    tile = items[:, 5]
    shared = items[:, 3] > 1
    tails = items[:, 4] < 0
    est = items[:, 1] * token_cost[tile] + sched.cost.item_overhead_bytes
    est = np.where(tails, items[:, 1] * items[:, 3] * token_cost[0], est)
    stock = np.arange(items.shape[0])
    private, shared_items = stock[~shared | tails], stock[shared & ~tails]
    # interleaved: private and shared items alternate in proportion to their counts
    key = np.concatenate(
        [
            np.arange(len(private)) / max(1, len(private)),
            np.arange(len(shared_items)) / max(1, len(shared_items)),
        ]
    )
    both = np.concatenate([private, shared_items])
    return {
        "stock": stock,
        "private-first": np.concatenate([private, shared_items]),
        "interleaved": both[key.argsort(kind="stable")],
        "lpt": (-est).argsort(kind="stable"),
    }


def main() -> None:
    shapes = sys.argv[1:] or SHAPES
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    for shape in shapes:
        batch = batch_for(shape)
        decoders = {}
        for name in ("stock", "private-first", "interleaved", "lpt"):
            decoder = decoders[name] = make_decoder(batch)
            plan = decoder.plan
            perm = orders(plan.items, decoder)[name]
            decoder.upload(dataclasses.replace(plan, items=plan.items[perm]), batch.req_to_token)
        times, outs = decoders_side_by_side(batch, decoders, flush)
        for name, out in outs.items():
            text = side_by_side_text(times[name], out, outs["stock"])
            print(f"{shape:34s} {name:14s} {text}", flush=True)
        del batch, decoders, outs
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
