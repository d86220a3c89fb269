"""Per-block cost of one tile config: I identical items (M rows × L shared KV tokens) × 8 heads.

python benchmarks/experiments/latency/micro.py L ITEMS,ITEMS -- MxN:wW:sS:pP[:rR] ...
Prints µs, µs per KV block per unit chain, and TFLOP/s (Q·Kᵀ + P·V on the tile's rows).
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import sglang_pat.kernels.launch as launch  # noqa: E402
from graph_timing import graph_time_us  # noqa: E402
from profile_pat import parse_menu  # noqa: E402
from sweep import use  # noqa: E402

HQ, HKV, D = 32, 8, 128
GROUP = HQ // HKV


def run(length: int, num_items: int, config: str, flush) -> str:
    parts = config.split(":")
    maxnreg = int(parts[4][1:]) if len(parts) > 4 else None
    use(maxnreg)
    menu = parse_menu(":".join(parts[:4]))
    block_m, block_n = menu.tiles[0].block_m, menu.tiles[0].block_n
    members_per_item = block_m // GROUP
    batch = num_items * members_per_item
    dev = "cuda"
    gen = torch.Generator(device=dev).manual_seed(0)
    num_slots = max(65536, 4 * length)
    k = torch.randn(num_slots, HKV, D, device=dev, dtype=torch.bfloat16, generator=gen)
    v = torch.randn_like(k)
    q = torch.randn(batch, HQ, D, device=dev, dtype=torch.bfloat16, generator=gen)
    o = torch.empty_like(q)
    kv_indices = torch.randperm(num_slots, device=dev, generator=gen)[:length].int()
    items = torch.tensor(
        [[0, length, i * members_per_item, members_per_item, 0, 0] for i in range(num_items)],
        dtype=torch.int32, device=dev,
    )  # fmt: skip
    members = torch.tensor([[b, -1, 0, 0] for b in range(batch)], dtype=torch.int32, device=dev)
    header = torch.tensor([num_items], dtype=torch.int32, device=dev)
    queue = torch.zeros(2, dtype=torch.int32, device=dev)
    partial_o = torch.empty(1, HQ, D, device=dev)
    partial_lse = torch.empty(1, HQ, device=dev)
    num_programs = torch.cuda.get_device_properties(0).multi_processor_count * menu.programs_per_sm

    def fn():
        launch.pack_decode(
            q, k, v, o, kv_indices, items, members, header, queue, partial_o, partial_lse,
            menu=menu, num_programs=num_programs, sm_scale=D**-0.5, check=False,
        )  # fmt: skip

    try:
        us = graph_time_us(fn, flush)
    except Exception as error:
        return f"{config} L{length} items {num_items}: {type(error).__name__} {str(error)[:80]}"
    units = num_items * HKV
    waves = -(-units // num_programs)
    blocks = -(-length // block_n)
    flops = 4 * D * block_m * length * units
    return (
        f"{config:34s} L{length} units {units:5d} ({units / num_programs:4.2f}/prog): {us:7.1f} us,"
        f" {us / (waves * blocks):5.2f} us/block/chain, {flops / us / 1e6:6.1f} TFLOP/s"
    )


def main() -> None:
    args = sys.argv[1:]
    split = args.index("--")
    length = int(args[0])
    counts = [int(x) for x in args[1].split(",")]
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    for config in args[split + 1 :]:
        for count in counts:
            print(run(length, count, config, flush), flush=True)


if __name__ == "__main__":
    main()
