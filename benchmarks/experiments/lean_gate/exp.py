"""Experiment: when does the lean kernel (cost_model.LeanKernel) beat the one launch?

    python benchmarks/experiments/lean_gate/exp.py SHAPE[@Q,KV] ... [--rounds 3]

Each shape runs in its own process (session 16 saw a later shape in one process lose the
two kernels' overlap). Per shape, side by side in CUDA graphs after an L2 flush (pack and
merge, as ``bench_kernels.py``): pat as it is by default, pat with the lean kernel, and the
lean kernel's two parts alone (the header's other part set to no work; outputs then wrong,
times only). Printed with the plan's features from the cost model, to fit a per-plan gate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def features(decoder, plan) -> dict:
    """The plan's shared and private work, in the scheduler's cost-model bytes."""
    import numpy as np

    scheduler = decoder.scheduler
    token_cost = np.asarray(scheduler.token_cost)
    items, shared = plan.items, plan.num_shared_items
    cost = items[:, 1] * token_cost[items[:, 5]] + scheduler.cost.item_overhead_bytes
    heads = scheduler.num_kv_heads
    return dict(
        items=int(items.shape[0]),
        shared_items=int(shared),
        shared_units=int(shared * heads),
        private_units=int((items.shape[0] - shared) * heads),
        shared_cost=float(cost[:shared].sum() * heads),
        private_cost=float(cost[shared:].sum() * heads),
        longest_shared_unit=float(cost[:shared].max()) if shared else 0.0,
        num_sms=decoder.num_sms,
    )


def one(shape: str, rounds: int) -> dict:
    import numpy as np
    import torch
    from bench_kernels import HEAD_DIM, batch_for, decoders_side_by_side

    from sglang_pat.cost_model import default_tile_menu
    from sglang_pat.decoder import PatDecoder

    batch = batch_for(shape)
    hq, hkv = batch.q.shape[1], batch.k.shape[1]

    def decoder(lean: bool) -> PatDecoder:
        d = PatDecoder(
            menu=default_tile_menu(HEAD_DIM, hq // hkv, lean=lean),
            num_q_heads=hq, num_kv_heads=hkv, head_dim=HEAD_DIM, device="cuda",
            max_requests=batch.q.shape[0], max_kv_indices=int(batch.seq_lens.sum()),
            kv_dtype=batch.k.dtype,
        )  # fmt: skip
        d.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
        return d

    decoders = {"pat": decoder(False), "lean": decoder(True)}
    row = dict(shape=shape, **features(decoders["lean"], decoders["lean"].plan))
    header = decoders["lean"].header.cpu().tolist()
    if header[2] > 0:  # the plan splits: time each part alone too
        for name, keep in (("shared-part", (header[0], header[1], 0)),
                           ("private-part", (header[0], 0, header[2]))):  # fmt: skip
            decoders[name] = decoder(True)
            decoders[name].header.copy_(torch.tensor(keep, dtype=torch.int32))
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    times, outs = decoders_side_by_side(batch, decoders, flush, rounds)
    row["header"] = header
    row["us"] = {name: float(np.median(t)) for name, t in times.items()}
    row["max_abs_diff"] = float((outs["lean"].float() - outs["pat"].float()).abs().max())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", action="store_true", help="this process runs the one shape")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.shapes[0], args.rounds)), flush=True)
        return
    for shape in args.shapes:
        run = subprocess.run(
            [sys.executable, __file__, shape, "--one", "--rounds", str(args.rounds)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        print(lines[-1] if lines else json.dumps(dict(shape=shape, error=run.stderr[-600:])),
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
