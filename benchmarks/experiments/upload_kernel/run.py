"""A/B on the GPU: a step's plan upload as a copy per section plus the gather launch (before
session 60) against the one upload kernel, as the GPU runs them between two decode steps.

    python benchmarks/experiments/upload_kernel/run.py [TREE ...]

Per path and tree, 200 times: a 200 µs sleep kernel first (so the host has queued everything
before the GPU reaches it, as in a server, whose host is milliseconds ahead), then an event,
the upload, one small kernel standing for the decode graph's first, and an event. The span
between the events is what the GPU spends from the end of the step before to the start of the
next step's first kernel. Both paths upload the same staged plan and must gather the same
indices (checked).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parent))
from old_gather import _gather_kv_indices_kernel  # noqa: E402
from sglang_pat.kernels.launch_upload import GATHER_BLOCK  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402
from sglang_pat.decoder import PatDecoder  # noqa: E402
from sglang_pat.forest import PrefixForest  # noqa: E402

TREES = ["4,128_4096,256", "64,256_2048,256", "1,4_256,3000", "1_3256"]


def old_upload(decoder: PatDecoder, staged, req_to_token: torch.Tensor) -> None:
    buffers = decoder.buffers
    staging = buffers._staging[staged.slot]
    for offset, length in staged.copies:
        if length:
            buffers._flat[offset : offset + length].copy_(
                staging[offset : offset + length], non_blocking=True
            )
    if staged.num_segments and staged.max_segment_len:
        grid = (staged.num_segments, triton.cdiv(staged.max_segment_len, GATHER_BLOCK))
        _gather_kv_indices_kernel[grid](
            req_to_token, req_to_token.stride(0), buffers.segments, decoder.kv_indices,
            BLOCK=GATHER_BLOCK,
        )  # fmt: skip
    buffers._staging_done[staged.slot].record()


def new_upload(decoder: PatDecoder, staged, req_to_token: torch.Tensor) -> None:
    decoder.buffers.upload(staged, req_to_token, decoder.kv_indices)


def span_us(decoder, plan, req_to_token, upload, marker: torch.Tensor, repeats: int = 200):
    spans = []
    for _ in range(repeats):
        staged = decoder.stage(plan)
        torch.cuda._sleep(400_000)  # about 200 µs at the H200's clock: the host gets ahead
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        upload(decoder, staged, req_to_token)
        marker.add_(1)  # the next step's first kernel
        end.record()
        end.synchronize()
        spans.append(start.elapsed_time(end) * 1e3)
    return statistics.median(spans), min(spans)


def main() -> None:
    trees = sys.argv[1:] or TREES
    marker = torch.zeros(1, device="cuda")
    print(f"GPU {torch.cuda.get_device_name()}; µs from the step before to the next's first kernel")
    for tree in trees:
        forest = PrefixForest.from_tree_spec(tree)
        rows = forest.num_requests + 1
        width = int(forest.seq_lens.max()) + 1
        req_to_token = torch.randperm(rows * width, dtype=torch.int32, device="cuda").view(
            rows, width
        )
        decoder = PatDecoder(
            num_q_heads=32, num_kv_heads=8, head_dim=128, device="cuda",
            max_requests=forest.num_requests, max_kv_indices=rows * width,
            menu=default_tile_menu(128, 4),
        )  # fmt: skip
        pool_rows = np.arange(forest.num_requests) + 1
        plan = decoder.plan_step(forest, pool_rows, req_to_token)
        results, gathered = {}, {}
        for name, upload in (("old", old_upload), ("new", new_upload), ("old", old_upload)):
            decoder.kv_indices.fill_(-1)
            span = span_us(decoder, plan, req_to_token, upload, marker)
            results.setdefault(name, []).append(span)
            gathered[name] = decoder.kv_indices[: plan.num_kv_indices].clone()
        same = torch.equal(gathered["old"], gathered["new"])
        old = ", ".join(f"{m:.1f} (min {n:.1f})" for m, n in results["old"])
        new = ", ".join(f"{m:.1f} (min {n:.1f})" for m, n in results["new"])
        print(
            f"{tree}: segments {plan.segments.shape[0]}, items {plan.items.shape[0]}, "
            f"members {plan.members.shape[0]}; old {old}; new {new}; same indices {same}",
            flush=True,
        )


if __name__ == "__main__":
    main()
