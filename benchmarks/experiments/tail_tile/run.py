"""Which menu tile should pack the short private tails, and up to what length? (H200)

python run.py [--heads 32,8 --heads 64,8 ...] [--variants T0/256,T1/256,...] [SHAPE ...]
(default shapes: the suite's trees with sharing and the acceptance shapes)

A variant ``T<tile>/<len>`` packs tails of up to ``len`` tokens with the menu's tile ``tile``
(longer ones stay one-request items of tile 0, whatever ``TileMenu.max_packed_long_tail``
says); ``default`` is the planner's default menu for the shape's GQA group. T0/256 was the
default before the tail tile existed. Each shape's variants are timed side by side (pack +
merge, CUDA graph, L2 flushed, alternated twice, the best kept) and their outputs compared
with the first variant's.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from graph_timing import decoders_side_by_side  # noqa: E402
from providers import HEAD_DIM, batch_for, make_decoder, splitting_every_plan  # noqa: E402
from workloads import ACCEPTANCE_EXTRA, TREE_SUITE, WIDE_FANOUT, WORKED_EXAMPLE  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402


def shapes(heads: list[str]) -> list[str]:
    trees = [t for t in TREE_SUITE if "," in t.split("_")[0]] + [WORKED_EXAMPLE, WIDE_FANOUT]
    trees += [t for t in ACCEPTANCE_EXTRA if "," in t.split("_")[0]] + ["4,128_4096,256"]
    return [f"{t}@{h}" for h in heads for t in dict.fromkeys(trees)]


def decoder_for(batch, variant: str):
    packing, _, force = variant.partition("+")
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = default_tile_menu(HEAD_DIM, group)
    if packing != "default":
        tile, length = (int(x) for x in packing[1:].split("/"))
        menu = dataclasses.replace(
            menu, tail_tile=tile, max_packed_tail=length, max_packed_long_tail=0
        )
    if force == "split":
        menu = splitting_every_plan(menu)
    elif force:
        raise ValueError(f"variant {variant!r}: the only suffix is +split")
    return make_decoder(batch, menu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", action="append", default=[])
    parser.add_argument("--variants", default="T0/256,T1/256,T2/256,T1/64,T2/64,T2/32")
    parser.add_argument("shapes", nargs="*")
    args = parser.parse_args()
    variants = args.variants.split(",")
    flush = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    print("shape | " + " | ".join(variants) + " | packed items", flush=True)
    for shape in args.shapes or shapes(args.heads or ["32,8", "64,8", "16,8", "32,32"]):
        batch = batch_for(shape)
        decoders = {variant: decoder_for(batch, variant) for variant in variants}
        packed = [int((d.plan.items[:, 4] < 0).sum()) for d in decoders.values()]
        times, outs = decoders_side_by_side(batch, decoders, flush)
        base = outs[variants[0]].float()
        diff = max((o.float() - base).abs().max().item() for o in outs.values())
        cells = " | ".join(f"{min(times[v]):6.1f}" for v in variants)
        print(f"{shape} | {cells} | {packed} | maxdiff {diff:.4f}", flush=True)


if __name__ == "__main__":
    main()
