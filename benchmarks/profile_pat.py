"""Where PAT's decode time goes: per tile config and merge, and a sweep over tile parameters.

python benchmarks/profile_pat.py --workload 1,64_4096,512 --heads 32,8 [--sweep]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_timing import copy_bandwidth_bytes_per_us, graph_time_us  # noqa: E402
from providers import HEAD_DIM, Batch, make_decoder  # noqa: E402
from workloads import tree_workload  # noqa: E402

from sglang_pat.cost_model import TileConfig, TileMenu, default_tile_menu  # noqa: E402
from sglang_pat.decoder import PatDecoder  # noqa: E402


def breakdown(batch: Batch, menu: TileMenu, flush, bound_us: float) -> float:
    decoder = make_decoder(batch, menu)
    out = torch.empty_like(batch.q)
    plan = decoder.plan
    run = lambda: decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
    total = graph_time_us(run, flush)
    decoder.merge_needed = False
    pack = graph_time_us(run, flush)
    print(
        f"  {menu}\n  total {total:7.1f} us ({total / bound_us:.2f}x bound {bound_us:.1f}),"
        f" pack kernel {pack:.1f}, merge {total - pack:.1f}"
    )
    for tile in range(len(menu.tiles)):
        lens = plan.items[plan.items[:, 5] == tile, 1]
        if lens.size:
            print(
                f"  tile {menu.tiles[tile]}: items {lens.size:5d} kv_len mean {lens.mean():7.1f}"
                f" max {lens.max():6d}"
            )
    print(f"  partials {plan.num_partials}, segments {plan.segments.shape[0]}", flush=True)
    return total


SWEEP = {
    "warps": [dict(num_warps=w) for w in (4, 8)],
    "stages": [dict(num_stages=s) for s in (2, 3, 4)],
    "per_sm": [dict(programs_per_sm=p) for p in (1, 2, 3)],
    "tiles": [
        dict(tiles=tuple(TileConfig(m, n) for m, n in t))
        for t in (
            ((16, 64), (32, 64), (64, 64), (128, 64)),
            ((16, 64), (64, 64), (128, 64)),
            ((16, 128), (32, 64), (64, 64), (128, 32)),
            ((16, 32), (32, 32), (64, 64)),
            ((16, 64), (32, 64), (64, 64)),
            ((16, 128), (64, 64), (128, 64)),
        )
    ],
}


def item_times(decoder: PatDecoder, batch: Batch, flush, keeps) -> list[float]:
    """µs of the decoder's plan restricted to each boolean item mask of ``keeps`` (None: the
    whole plan); the whole plan is uploaded again at the end."""
    plan = decoder.plan
    out = torch.empty_like(batch.q)
    run = lambda: decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
    times = []
    for keep in keeps:
        decoder.upload(
            plan if keep is None else dataclasses.replace(plan, items=plan.items[keep]),
            batch.req_to_token,
        )
        times.append(graph_time_us(run, flush))
    decoder.upload(plan, batch.req_to_token)
    return times


def decoder_with_chunk(
    batch: Batch, menu: TileMenu | None, chunk: int, forced: str = "shared", **options
) -> PatDecoder:
    """A decoder whose plan of ``batch`` has the shared tiles' configs (or, ``forced ==
    "private"``, the private tails' config) at chunk length ``chunk``, planned for a graph."""
    decoder = make_decoder(batch, menu, plan=False, **options)
    rule = decoder.scheduler._rule
    private_tile = decoder.scheduler._config_for_rows[decoder.scheduler.group_size]
    configs = np.arange(rule.num_configs)
    # ChunkRule.forced: [config, shared / private-only class]; a chunk that is not one of
    # a class's candidates is a ValueError
    rule.forced[(configs == private_tile) == (forced == "private")] = chunk
    decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
    return decoder


def chunk_experiment(
    batch: Batch, menu: TileMenu, flush, chunks: list[int], forced: str = "shared"
) -> None:
    """Force the chunk length of the shared tiles' configs (or of the private tails' config);
    time all items (merge included), shared items only, private only."""
    for chunk in chunks:
        decoder = decoder_with_chunk(batch, menu, chunk, forced)
        plan = decoder.plan
        private_tile = decoder.scheduler._config_for_rows[decoder.scheduler.group_size]
        private = plan.items[:, 5] == private_tile
        times = item_times(decoder, batch, flush, [None, ~private, private])
        print(
            f"  {forced} chunk {chunk:5d}: total {times[0]:7.1f} us, shared items only "
            f"{times[1]:7.1f}, private only {times[2]:7.1f}, partials {plan.num_partials}",
            flush=True,
        )


def split_times(batch: Batch, menu: TileMenu, flush) -> list[float]:
    """µs of the whole plan, of its shared items only (several members, chunk >= 0) and of
    the rest (private items and packed tails), each without the merge."""
    decoder = make_decoder(batch, menu)
    decoder.merge_needed = False
    items = decoder.plan.items
    shared = (items[:, 3] > 1) & (items[:, 4] >= 0)
    return item_times(decoder, batch, flush, [None, shared, ~shared])


def parse_menu(text: str) -> TileMenu:
    """``16x128s2,32x64,64x64:w4:s3:p2`` -> TileMenu (tiles, warps, stages, programs per SM).

    A tile's own pipeline depth follows its shape (``16x128s2``); without it, the menu's.
    """
    tiles, warps, stages, per_sm = text.split(":")
    shapes = []
    for tile in tiles.split(","):
        shape, _, tile_stages = tile.partition("s")
        m, n = (int(x) for x in shape.split("x"))
        shapes.append((m, n, int(tile_stages or 0)))
    return _menu(shapes, int(warps[1:]), int(stages[1:]), int(per_sm[1:]))


def _menu(tiles, warps, stages, per_sm) -> TileMenu:
    return TileMenu(tuple(TileConfig(*t) for t in tiles), warps, stages, per_sm)


COMBOS = [
    _menu(((16, 64), (32, 64), (64, 64)), 4, 3, 2),
    _menu(((16, 64), (32, 64), (64, 64)), 4, 3, 3),
    _menu(((16, 64), (32, 64), (64, 64)), 4, 2, 3),
    _menu(((16, 128), (32, 64), (64, 64)), 4, 3, 2),
    _menu(((16, 128), (64, 64)), 4, 2, 3),
    _menu(((16, 128), (32, 64), (64, 64)), 4, 4, 2),
    _menu(((16, 64), (64, 64)), 4, 4, 2),
    _menu(((16, 128), (64, 64), (128, 64)), 8, 3, 1),
    _menu(((16, 128), (64, 64), (128, 64)), 8, 4, 1),
    _menu(((16, 64),), 4, 4, 4),
    _menu(((16, 128),), 4, 3, 3),
    _menu(((16, 64),), 2, 4, 6),
    _menu(((16, 32),), 2, 6, 8),
    _menu(((16, 128),), 4, 4, 2),
    _menu(((16, 256),), 8, 3, 1),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", action="append", required=True)
    parser.add_argument("--heads", default="32,8")
    parser.add_argument("--sweep", action="append", default=[], choices=sorted(SWEEP))
    parser.add_argument("--combos", action="store_true", help="try the whole menus of COMBOS")
    parser.add_argument("--shared-chunks", default="", help="e.g. 256,512,1024")
    parser.add_argument("--private-chunks", default="", help="e.g. 256,512,1024")
    parser.add_argument(
        "--split", action="append", default=[], metavar="MENU",
        help="time all / shared-only / private-only items with MENU (16x128,64x64:w4:s3:p2)",
    )  # fmt: skip
    args = parser.parse_args()
    heads = tuple(int(x) for x in args.heads.split(","))
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    bw = copy_bandwidth_bytes_per_us()
    pack_menu = default_tile_menu(HEAD_DIM, lean=False)  # the pack kernel alone, as tuned
    for spec in args.workload:
        batch = Batch(tree_workload(spec), *heads)
        bound = batch.unique_bytes / bw
        print(f"{spec} {heads}", flush=True)
        breakdown(batch, pack_menu, flush, bound)
        for text in args.split:
            try:
                total, shared, private = split_times(batch, parse_menu(text), flush)
                print(
                    f"  split {text}: all {total:7.1f} us, shared only {shared:7.1f},"
                    f" private only {private:7.1f} (no merge)",
                    flush=True,
                )
            except Exception as error:  # out of shared memory, registers, ...
                print(f"  split {text}: {type(error).__name__} {str(error)[:80]}", flush=True)
        if args.shared_chunks:
            chunks = [int(c) for c in args.shared_chunks.split(",")]
            chunk_experiment(batch, pack_menu, flush, chunks)
        if args.private_chunks:
            chunks = [int(c) for c in args.private_chunks.split(",")]
            chunk_experiment(batch, pack_menu, flush, chunks, "private")
        menus = [
            (change, dataclasses.replace(pack_menu, **change))
            for axis in args.sweep
            for change in SWEEP[axis]
        ]
        menus += [(menu, menu) for menu in COMBOS] if args.combos else []
        for change, menu in menus:
            if menu.tiles[-1].block_m < heads[0] // heads[1] or (
                len(menu.tiles) == 1 and batch.forest.num_nodes
            ):
                continue
            if True:
                try:
                    decoder = make_decoder(batch, menu)
                    out = torch.empty_like(batch.q)
                    us = graph_time_us(
                        lambda: decoder.forward(
                            batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale
                        ),
                        flush,
                    )
                    print(f"  sweep {change}: {us:7.1f} us", flush=True)
                except Exception as error:  # out of shared memory, registers, ...
                    print(f"  sweep {change}: {type(error).__name__} {str(error)[:80]}", flush=True)


if __name__ == "__main__":
    main()
