"""Chunk choices on Mooncake batches: record the installed planner's, or time two sets.

python mooncake_chunks.py record > FILE.json            (CPU; run once per planner version)
python mooncake_chunks.py time OLD.json NEW.json        (GPU: pack + merge, side by side)

Batches: bench_kernels.py's four Mooncake cuts (64/128 consecutive requests, half decoded) at
(32, 8), (64, 8) and (16, 8). The trace directory is PAT_MOONCAKE_DIR (workloads.py).
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from workloads import mooncake_workload  # noqa: E402

from sglang_pat.scheduler import PackScheduler  # noqa: E402

CUTS = [("conversation", 0, 64), ("conversation", 5000, 128), ("synthetic", 0, 64)]
CUTS += [("synthetic", 2000, 128)]
HEADS = [(32, 8), (64, 8), (16, 8)]


def record() -> dict:
    out = {}
    for trace, start, batch in CUTS:
        forest = mooncake_workload(trace, start, batch).forest
        for q_heads, kv_heads in HEADS:
            planner = PackScheduler(
                num_kv_heads=kv_heads, group_size=q_heads // kv_heads, head_dim=128, num_sms=132
            )
            seen = {}
            choose = planner._rule.chunks

            def chunks(*args, seen=seen, choose=choose):
                seen["chunks"] = [int(x) for x in choose(*args)]
                return seen["chunks"]

            planner._rule.chunks = chunks
            planner.plan_cold(forest, np.arange(forest.num_requests))
            out[f"{trace}:{start}:{batch}@{q_heads},{kv_heads}"] = seen["chunks"]
    return out


def time_sets(old: dict, new: dict) -> None:
    import torch
    from graph_timing import decoders_side_by_side
    from providers import Batch, make_decoder

    flush = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    for key in old:
        if old[key] == new[key]:
            print(f"{key:32s} same chunks {old[key]}", flush=True)
            continue
        cut, heads = key.split("@")
        trace, start, batch = cut.split(":")
        q_heads, kv_heads = map(int, heads.split(","))
        data = Batch(mooncake_workload(trace, int(start), int(batch)), q_heads, kv_heads)
        decoders, items = {}, {}
        for name, chunks in (("old", old[key]), ("new", new[key])):
            decoder = decoders[name] = make_decoder(data, plan=False)
            rule = decoder.scheduler._rule  # each config's recorded chunk, both class kinds
            rule.forced[:] = np.asarray(chunks[: rule.num_configs])[:, None]
            decoder.plan_step(data.forest, data.pool_rows, data.req_to_token, for_graph=True)
            items[name] = decoder.plan.items.shape[0]
        times, outs = decoders_side_by_side(data, decoders, flush)
        diff = (outs["old"].float() - outs["new"].float()).abs().max().item()
        old_us, new_us = min(times["old"]), min(times["new"])
        print(
            f"{key:32s} old {old_us:7.1f} us ({items['old']} items, {old[key]})"
            f"  new {new_us:7.1f} ({items['new']}, {new[key]})  new/old {new_us / old_us:.3f}"
            f"  maxdiff {diff:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    if sys.argv[1] == "record":
        print(json.dumps(record()))
    else:
        time_sets(*(json.loads(Path(p).read_text()) for p in sys.argv[2:4]))
