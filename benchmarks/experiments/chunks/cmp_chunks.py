"""Time PAT (pack + merge) on each workload with the old and the new per-config chunk choice.

python cmp_chunks.py VARIANTS.json   ({"SPEC" or "SPEC@Q,KV": {"old": [...], "new": [...]}})
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "benchmarks")
from graph_timing import copy_bandwidth_bytes_per_us, graph_time_us
from providers import HEAD_DIM, Batch, batch_for, make_decoder
from workloads import tree_workload

from sglang_pat.cost_model import default_tile_menu

variants = json.loads(Path(sys.argv[1]).read_text())
flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
bw = copy_bandwidth_bytes_per_us()
print(f"copy bandwidth {bw / 1e6:.2f} TB/s", flush=True)
for spec, v in variants.items():
    batch = batch_for(spec) if "@" in spec else Batch(tree_workload(spec), 32, 8)  # TREE@Q,KV
    bound = batch.unique_bytes / bw
    res = {"old": [], "new": []}
    for _ in range(2):
        for name in ("old", "new"):
            group = batch.q.shape[1] // batch.k.shape[1]
            d = make_decoder(batch, default_tile_menu(HEAD_DIM, group), plan=False)
            rule = d.scheduler._rule  # each config's recorded chunk, both class kinds
            rule.forced[:] = np.asarray(v[name][: rule.num_configs])[:, None]
            plan = d.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=False)
            out = torch.empty_like(batch.q)
            run = lambda: d.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)  # noqa: B023, E731
            res[name].append(graph_time_us(run, flush))
            res[name + "_items"] = plan.items.shape[0]
    o, n = min(res["old"]), min(res["new"])
    old_us, new_us = (
        " ".join(f"{t:6.1f}" for t in res["old"]),
        " ".join(f"{t:6.1f}" for t in res["new"]),
    )
    print(
        f"{spec:30s} bound {bound:6.1f} old {old_us} ({res['old_items']} items)"
        f"  new {new_us} ({res['new_items']} items)  new/old {n / o:.3f}",
        flush=True,
    )
