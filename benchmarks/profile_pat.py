"""Where PAT's decode time goes: per tile config and merge, and a sweep over tile parameters.

    python benchmarks/profile_pat.py --workload 1,64_4096,512 --heads 32,8 [--sweep]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kernels import DTYPE, HEAD_DIM, Batch, copy_bandwidth_bytes_per_us, graph_time_us  # noqa: E402
from workloads import tree_workload  # noqa: E402

from sglang_pat.cost_model import TileConfig, default_tile_menu  # noqa: E402
from sglang_pat.decoder import PatDecoder  # noqa: E402


def make_decoder(batch: Batch, menu) -> PatDecoder:
    decoder = PatDecoder(
        num_q_heads=batch.q.shape[1], num_kv_heads=batch.k.shape[1], head_dim=HEAD_DIM,
        device="cuda", max_requests=batch.q.shape[0], max_kv_indices=int(batch.seq_lens.sum()),
        kv_dtype=DTYPE, menu=menu,
    )
    decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
    return decoder


def breakdown(batch: Batch, menu, flush, bound_us: float) -> float:
    decoder = make_decoder(batch, menu)
    out = torch.empty_like(batch.q)
    plan = decoder.plan
    run = lambda: decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
    total = graph_time_us(run, flush)
    parts = []
    for config in range(len(decoder.menu)):
        decoder.active_configs, decoder.merge_needed = (config,), False
        parts.append(graph_time_us(run, flush))
    decoder.active_configs, decoder.merge_needed = (), True
    merge = graph_time_us(run, flush)
    print(f"  total {total:7.1f} us ({total / bound_us:.2f}x bound {bound_us:.1f}) merge {merge:.1f}")
    for config, (tile, us) in enumerate(zip(decoder.menu, parts)):
        first, count = plan.config_items[config].tolist()
        lens = plan.items[first : first + count, 1]
        print(f"  {tile} items {count:5d} kv_len mean {lens.mean() if count else 0:7.1f} "
              f"max {lens.max() if count else 0:6d}: {us:7.1f} us")
    print(f"  partials {plan.num_partials}, segments {plan.segments.shape[0]}", flush=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", action="append", required=True)
    parser.add_argument("--heads", default="32,8")
    parser.add_argument("--sweep", type=int, default=None, help="menu index to sweep")
    args = parser.parse_args()
    heads = tuple(int(x) for x in args.heads.split(","))
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    bw = copy_bandwidth_bytes_per_us()
    for spec in args.workload:
        batch = Batch(tree_workload(spec), *heads)
        bound = batch.unique_bytes / bw
        print(f"{spec} {heads}: default menu", flush=True)
        breakdown(batch, default_tile_menu(HEAD_DIM), flush, bound)
        if args.sweep is None:
            continue
        base = list(default_tile_menu(HEAD_DIM))
        index = args.sweep
        tile = base[index]
        if True:
            for block_n, stages, warps, per_sm in itertools.product(
                (32, 64, 128), (2, 3, 4), (4, 8), (1, 2, 3)
            ):
                if (tile.block_m <= 32) == (warps == 8) or block_n * stages > 384:
                    continue
                if tile.block_m >= 64 and per_sm == 3:
                    continue
                menu = list(base)
                menu[index] = TileConfig(tile.block_m, block_n, warps, stages, per_sm)
                try:
                    decoder = make_decoder(batch, menu)
                    out = torch.empty_like(batch.q)
                    us = graph_time_us(lambda: decoder.forward(
                        batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale), flush)
                    print(f"  sweep {menu[index]}: {us:7.1f} us", flush=True)
                except Exception as error:  # out of shared memory etc.
                    print(f"  sweep {menu[index]}: {type(error).__name__}", flush=True)


if __name__ == "__main__":
    main()
