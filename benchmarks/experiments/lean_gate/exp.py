"""Experiment: when does the lean kernel (cost_model.LeanKernel) beat the one launch?

    python benchmarks/experiments/lean_gate/exp.py SHAPE[@Q,KV] ... [--rounds 3]

Each shape runs in its own process (session 16 saw a later shape in one process lose the
two kernels' overlap). Per shape, side by side in CUDA graphs after an L2 flush (pack and
merge, as ``bench_kernels.py``): pat with the lean kernel off (one launch), pat with the lean
kernel splitting every plan it can (no gate), and the lean kernel's two parts alone (the
header's other part set to no work; outputs then wrong, times only). One JSON line a shape,
which ``fit.py`` reads (it re-plans each shape for the gate's features).
``results/session18.jsonl`` was written by 1466bf3's version, which also recorded cost-model
features of its own (unused) and whose "lean" was the lean kernel then, with no gate: what
``split`` is here.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def one(shape: str, rounds: int) -> dict:
    import numpy as np
    import torch
    from graph_timing import decoders_side_by_side
    from providers import HEAD_DIM, batch_for, make_decoder, splitting_every_plan

    from sglang_pat.cost_model import default_tile_menu
    from sglang_pat.decoder import device_sm_count

    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    one_launch = default_tile_menu(HEAD_DIM, group, lean=False)
    split = splitting_every_plan(default_tile_menu(HEAD_DIM, group))  # no gate, any batch
    decoders = {"pat": make_decoder(batch, one_launch), "lean": make_decoder(batch, split)}
    plan = decoders["lean"].plan
    assert plan is not None
    row = dict(
        shape=shape,
        items=int(plan.items.shape[0]),
        shared_items=plan.num_shared_items,
        num_sms=device_sm_count(batch.q.device),
    )
    header = decoders["lean"].header.cpu().tolist()
    if header[2] > 0:  # the plan splits: time each part alone too
        for name, keep in (("shared-part", (header[0], header[1], 0)),
                           ("private-part", (header[0], 0, header[2]))):  # fmt: skip
            decoders[name] = make_decoder(batch, split)
            decoders[name].header.copy_(torch.tensor(keep, dtype=torch.int32))
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    times, outs = decoders_side_by_side(batch, decoders, flush, rounds)
    row["header"] = header
    row["us"] = {name: float(np.median(t)) for name, t in times.items()}
    row["max_abs_diff"] = float((outs["lean"].float() - outs["pat"].float()).abs().max())
    return row


def main() -> None:
    from graph_timing import run_shape_experiment

    run_shape_experiment(__file__, __doc__, one)


if __name__ == "__main__":
    main()
