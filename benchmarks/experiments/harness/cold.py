"""Small private batches: how much of pat's time is fetching from DRAM after the flush?

For each shape, pat (the default menu, and a one-tile menu whose kernel holds a third of the
code) and FlashInfer decode are timed in the benchmarks' graph harness (graph_timing.py) twice:
after the 512 MB flush (cold: KV, plan metadata and kernel code come from DRAM) and after no
flush (warm: whatever fits stays in the 50 MB L2 from the previous call). The one-tile menu's
compiled code size is printed beside it.

    python benchmarks/experiments/harness/cold.py 1_3300 6_3300 64_512
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from graph_timing import graph_time_us  # noqa: E402
from profile_pat import parse_menu  # noqa: E402
from providers import Batch, make_decoder, run_flashinfer_decode  # noqa: E402
from workloads import tree_workload  # noqa: E402

MENUS = {"default": None, "one tile": "16x128s2:w4:s3:p2"}


def main() -> None:
    specs = sys.argv[1:] or ["1_3300", "6_3300", "64_512"]
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    no_flush = torch.empty(4096, dtype=torch.uint8, device="cuda")
    print(f"{'shape':10s} {'provider':24s} {'cold':>8s} {'warm':>8s}  (µs, pack + merge)")
    for spec in specs:
        batch = Batch(tree_workload(spec), 32, 8)
        runs = {}
        for name, menu in MENUS.items():
            decoder = make_decoder(batch, parse_menu(menu) if menu else None)
            out = torch.empty_like(batch.q)
            runs[f"pat, {name} menu"] = lambda d=decoder, o=out: d.forward(
                batch.q, batch.k, batch.v, o, sm_scale=batch.sm_scale
            )
        runs["flashinfer decode"] = run_flashinfer_decode(batch)[1]
        for label, fn in runs.items():
            cold = graph_time_us(fn, flush)
            warm = graph_time_us(fn, no_flush)
            print(f"{spec:10s} {label:24s} {cold:8.2f} {warm:8.2f}", flush=True)


if __name__ == "__main__":
    main()
