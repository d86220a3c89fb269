"""The one launch of small batches with and without the PDL merge, side by side (H200).

    python benchmarks/experiments/latency/pdl_small.py [--rounds 3] [SHAPE ...]

Batches under ``launch_policy.PDL_MAX_BATCH`` requests run pack + merge as one launch in the
server's CUDA graphs; there the merge now starts as the pack kernel's programmatic dependent.
This times that form (the default menu, planned as for a graph of the batch's size) with
``_pdl`` on and off, alternated, in CUDA graphs with the L2 flushed, and checks that both
write the same output. (32, 8) heads, d = 128, bf16.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from graph_timing import side_by_side_us  # noqa: E402
from providers import Batch, make_decoder  # noqa: E402
from workloads import tree_workload  # noqa: E402

# Mooncake-like private batches, and small ones with sharing
SHAPES = ["1_3300", "2_8000", "4_8000", "6_3300", "8_2500", "12_3300", "1,8_2048,256"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*", default=SHAPES)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    print(f"{torch.cuda.get_device_name()}: µs per layer (pack + merge), best of the rounds")
    for spec in args.shapes:
        batch = Batch(tree_workload(spec), 32, 8)
        decoder = make_decoder(batch)
        assert not decoder.lean_needed, "a small batch runs the one launch"
        outs = {mode: torch.empty_like(batch.q) for mode in ("plain", "pdl")}

        def run(mode: str) -> None:
            decoder._pdl = mode == "pdl"  # read when the launch is captured
            decoder.forward(batch.q, batch.k, batch.v, outs[mode], sm_scale=batch.sm_scale)

        for mode in outs:
            run(mode)
        same = torch.equal(outs["plain"], outs["pdl"])
        times = side_by_side_us({m: lambda m=m: run(m) for m in outs}, flush, args.rounds)
        plain, pdl = min(times["plain"]), min(times["pdl"])
        print(
            f"{spec:16s} plain {plain:6.1f}  pdl {pdl:6.1f}  ({pdl - plain:+.1f})"
            f"  partials {decoder.plan.num_partials:4d}  outputs equal: {same}",
            flush=True,
        )


if __name__ == "__main__":
    main()
