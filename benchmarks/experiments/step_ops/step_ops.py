"""GPU work that a pat decode step adds outside the attention layers (H200, session 28).

    python benchmarks/experiments/step_ops/step_ops.py [--steps 50]

At one request pat's server step is 124 µs longer than flashinfer's (5.08 against 4.96 ms),
and the attention launches explain about 58 µs of it. This profiles, on a private batch with
the server's capacities (4,096 request rows of 8,192 tokens, 16,384 partials), the two pieces
of per-step GPU work that flashinfer's server does not have in this form:

- ``pat``: ``PatDecoder.plan_step`` as the backend calls it before a graph replay (the plan's
  host-to-device copies and the KV-index gather kernel);
- ``triton-metadata``: what ``TritonAttnBackend.init_forward_metadata_out_graph`` still does
  on each replay for decode (``_update_decode_kv_buffers`` and ``get_num_kv_splits``: the
  cumsum of the lengths, its copy into ``kv_indptr``, ``create_flashinfer_kv_indices_triton``
  and ``get_num_kv_splits_triton``), which pat's kernels never read.

Each GPU op's time comes from the torch profiler; a step's op count matters too, since each op
queued on the stream also costs a launch gap of about a microsecond.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch
from sglang.kernels.ops.attention.metadata import get_num_kv_splits_triton
from sglang.kernels.ops.kvcache.kv_indices import create_flashinfer_kv_indices_triton
from torch.profiler import ProfilerActivity, profile

from sglang_pat.cost_model import default_tile_menu
from sglang_pat.decoder import PatDecoder
from sglang_pat.forest import PrefixForest

ROWS, CONTEXT = 4096, 8192  # the Mooncake server: max_running_requests 4096, context 8192
Q_HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128
MAX_KV_SPLITS = 8  # SGLang's --triton-attention-num-kv-splits default


def private_batch(batch: int, tokens: int) -> tuple[PrefixForest, np.ndarray]:
    return PrefixForest.no_sharing(np.full(batch, tokens)), np.arange(batch) + 7


def triton_metadata(req_to_token, pool_rows, seq_lens, kv_indptr, kv_indices, splits, sms):
    """The decode branch of TritonAttnBackend's per-replay metadata (SGLang 0.5.17)."""
    bs = seq_lens.shape[0]
    kv_indptr[1 : bs + 1] = torch.cumsum(seq_lens, dim=0)
    create_flashinfer_kv_indices_triton[(bs,)](
        req_to_token, pool_rows, seq_lens, kv_indptr, None, kv_indices, req_to_token.stride(0)
    )
    get_num_kv_splits_triton[(1,)](
        splits, seq_lens, bs, 1, Q_HEADS, KV_HEADS, MAX_KV_SPLITS, sms, MAX_NUM_SEQ=256
    )


def profile_steps(step, steps: int) -> tuple[dict[str, float], float]:
    """Per step: µs of each GPU op name, and the number of GPU ops."""
    for _ in range(3):
        step()  # compiles, first copies
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    per_name: dict[str, float] = defaultdict(float)
    count = 0
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            per_name[event.name[:60]] += event.device_time / steps
            count += 1
    return dict(per_name), count / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, action="append", default=[])
    args = parser.parse_args()
    device = torch.device("cuda")
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    req_to_token = torch.randint(0, 1 << 20, (ROWS, CONTEXT), dtype=torch.int32, device=device)
    decoder = PatDecoder(
        num_q_heads=Q_HEADS, num_kv_heads=KV_HEADS, head_dim=HEAD_DIM, device=device,
        max_requests=ROWS, max_kv_indices=req_to_token.numel(), max_partials=16384,
        menu=default_tile_menu(HEAD_DIM, Q_HEADS // KV_HEADS),
    )  # fmt: skip
    kv_indptr = torch.zeros(ROWS + 1, dtype=torch.int32, device=device)
    kv_indices = torch.zeros(256 * CONTEXT, dtype=torch.int64, device=device)
    splits = torch.zeros(ROWS, dtype=torch.int32, device=device)
    print(f"{torch.cuda.get_device_name()}, {args.steps} steps; µs a step by GPU op")
    for batch in args.batch or [1, 4, 128]:
        forest, pool_rows = private_batch(batch, 3300)
        seq_lens = torch.full((batch,), 3300, dtype=torch.int64, device=device)
        rows = torch.as_tensor(pool_rows, dtype=torch.int64, device=device)

        def pat_step() -> None:
            decoder.plan_step(forest, pool_rows, req_to_token, for_graph=True, graph_batch=batch)

        def metadata_step() -> None:
            triton_metadata(req_to_token, rows, seq_lens, kv_indptr, kv_indices, splits, sms)

        for label, step in (("pat plan_step", pat_step), ("triton metadata", metadata_step)):
            ops, count = profile_steps(step, args.steps)
            total = sum(ops.values())
            print(f"batch {batch:4d} {label:16s}: {count:4.1f} GPU ops, {total:6.1f} µs busy")
            for name, us in sorted(ops.items(), key=lambda kv: -kv[1]):
                print(f"    {us:6.2f} µs  {name}")


if __name__ == "__main__":
    main()
