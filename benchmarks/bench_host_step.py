"""CPU time of pat's per-step host work outside the GPU, split into its parts (CPU only).

    python benchmarks/bench_host_step.py [--out DIR] [--steps N]

The pat server logs its planning CPU time per decode step (p50 430–470 µs on the Mooncake
batches of 1–16 requests, 400–520 µs at 128–256). This times, on a real SGLang RadixCache
holding the workload's prompts (``RadixCache.create_simulated``), the parts that need no GPU:

- ``forest``: the batch's prefix forest from the requests' ``last_node`` (RadixForestBuilder;
  a decode step reuses the last forest, so this is its lazy path);
- ``plan``: PackScheduler.plan on a batch one token longer than the last (its lazy update);
- ``stage``: writing the plan into the pinned staging buffer (PatDecoder.stage, the host's part
  of an upload), with ``--lean`` also the lean kernel's gate on cold plans (lazy ones keep its
  choice).

With ``--device cuda`` (on the GPU machine) the decoder's buffers are on the GPU and a fourth
part is timed: ``plan_step``, the whole of PatDecoder.plan_step as the server calls it (the
plan, the staging, the launch of the kernel that uploads the plan and gathers its KV slot
indices, and the CUDA event that guards the staging buffer), on the same batches. Llama-3-8B
shapes, 132 SMs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from workloads import radix_cache_holding

from sglang_pat.cost_model import default_tile_menu
from sglang_pat.decoder import PatDecoder
from sglang_pat.radix import RadixForestBuilder

# name: (groups, requests per group, shared prompt tokens, private prompt tokens, decoded)
BATCHES = {
    "mooncake-1x3300": (1, 1, 0, 3300, 100),
    "mooncake-4x3300": (4, 1, 0, 3300, 100),
    "mooncake-12x3300-share-270": (1, 12, 270, 3000, 100),
    "gsp-4x32-4096": (4, 32, 4096, 128, 128),
    "gsp-64x16-2048": (16, 16, 2048, 128, 128),  # 256 running: 16 of the 64 groups at once
}


def batch_on_radix(groups: int, per_group: int, shared: int, private: int, seed: int = 0):
    """A simulated RadixCache holding the prompts; each request's last node and prompt length."""
    rng = np.random.default_rng(seed)
    prompts = []
    for _ in range(groups):
        prefix = rng.integers(1, 100_000, shared).tolist()
        for _ in range(per_group):
            prompts.append(prefix + rng.integers(1, 100_000, private).tolist())
    cache, last_nodes = radix_cache_holding(prompts)
    return cache.root_node, last_nodes, np.asarray([len(p) for p in prompts], dtype=np.int64)


def bench(name: str, steps: int, device: str, lean: bool) -> dict:
    groups, per_group, shared, private, decoded = BATCHES[name]
    root, last_nodes, prompt_lens = batch_on_radix(groups, per_group, shared, private)
    batch = len(last_nodes)
    max_len = int(prompt_lens.max()) + decoded + steps + 1
    decoder = PatDecoder(
        num_q_heads=32, num_kv_heads=8, head_dim=128, device=device, max_requests=batch,
        max_kv_indices=batch * max_len, num_sms=132, menu=default_tile_menu(128, 4, lean=lean),
    )  # fmt: skip
    builder = RadixForestBuilder()
    pool_rows = np.arange(batch)
    req_to_token = torch.arange(batch * max_len, dtype=torch.int32, device=device)
    req_to_token = req_to_token.view(batch, max_len)
    # on the GPU, plan_step as the server calls it; on the CPU, its plan and staging alone
    parts = ["forest", "plan_step"] if device == "cuda" else ["forest", "plan", "stage"]
    times: dict[str, list[float]] = {part: [] for part in parts}
    lazy = 0
    for step in range(steps + 1):
        seq_lens = prompt_lens + decoded + step
        t0 = time.perf_counter()
        forest = builder.build(last_nodes, root, seq_lens)
        t1 = time.perf_counter()
        if device == "cuda":
            decoder.plan_step(forest, pool_rows, req_to_token)
            spans = {"plan_step": time.perf_counter() - t1}
        else:
            plan = decoder.scheduler.plan(forest, pool_rows)
            t2 = time.perf_counter()
            decoder.stage(plan, keep_split=decoder.scheduler.last_plan_was_lazy)  # as plan_step
            spans = {"plan": t2 - t1, "stage": time.perf_counter() - t2}
        if step:  # step 0 builds the forest and plans cold
            for part, span in {"forest": t1 - t0, **spans}.items():
                times[part].append(span)
            lazy += decoder.scheduler.last_plan_was_lazy
    row = dict(workload=name, device=device, lean=lean, batch=batch, steps=steps, lazy_steps=lazy)
    for part, samples in times.items():
        row[f"{part}_us"] = round(float(np.median(samples)) * 1e6, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write host-step-<device>.json there")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--lean", action="store_true", help="the gated lean kernel on (the server's is opt-in)"
    )
    args = parser.parse_args()
    rows = []
    for name in BATCHES:
        rows.append(bench(name, args.steps, args.device, args.lean))
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        result = dict(
            date=datetime.date.today().isoformat(),
            cpu=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count(),
            gpu=torch.cuda.get_device_name() if args.device == "cuda" else None,
            commit=subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip(),
            command=" ".join(["python", *sys.argv]),
            rows=rows,
        )
        out = Path(args.out) / f"host-step-{args.device}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
