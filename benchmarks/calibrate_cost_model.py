"""Calibrate ``CostModel`` on the GPU with PAT's own kernels; writes calibration.json.

    python benchmarks/calibrate_cost_model.py [--out benchmarks/results]

- bandwidth: device-to-device copy (bytes read + written per µs);
- dot rate: a 4096-token prefix shared by 256 rows per KV head, shared items only (FLOP/µs);
- item overhead: 1-token private items, µs per item per program, as bytes at BW / programs;
- merge overhead: merge time per partial beyond its fp32 bytes, as bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_timing import copy_bandwidth_bytes_per_us  # noqa: E402
from profile_pat import item_times  # noqa: E402
from provenance import measured_commit  # noqa: E402
from providers import HEAD_DIM, Batch, make_decoder  # noqa: E402
from workloads import tree_workload  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402


def timed(batch: Batch, keep=None, merge: bool = True):
    """µs of the default menu's plan for ``batch`` (only the items ``keep(plan)`` selects),
    the plan timed, and the decoder."""
    # the cost model is the pack kernel's: its one launch, without the lean kernel's split
    decoder = make_decoder(batch, default_tile_menu(HEAD_DIM, lean=False))
    decoder.merge_needed = merge
    plan = decoder.plan
    mask = None if keep is None else keep(plan)
    (us,) = item_times(decoder, batch, FLUSH, [mask])
    return us, plan if mask is None else dataclasses.replace(plan, items=plan.items[mask]), decoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--commit", default=measured_commit())
    args = parser.parse_args()
    global FLUSH
    FLUSH = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    heads = (32, 8)
    bw = copy_bandwidth_bytes_per_us()

    shared = Batch(tree_workload("1,64_4096,1"), *heads)
    us, plan, decoder = timed(shared, keep=lambda p: p.items[:, 3] > 1, merge=False)
    rows = int((plan.items[:, 3] * plan.items[:, 1]).sum()) * (heads[0] // heads[1])
    dot_flops = 4 * HEAD_DIM * rows * heads[1] / us

    tiny = Batch(tree_workload("4096_1"), *heads)
    us_tiny, plan_tiny, decoder = timed(tiny, merge=False)
    units = plan_tiny.items.shape[0] * heads[1]
    per_unit_us = us_tiny * decoder.num_programs / units
    item_overhead = per_unit_us * bw / decoder.num_programs

    merged = Batch(tree_workload("1,256_1024,64"), *heads)
    with_merge, plan_m, _ = timed(merged)
    without, _, _ = timed(merged, merge=False)
    partials = plan_m.num_partials * heads[0]  # per q head
    partial_bytes = (HEAD_DIM + 1) * 4 * 2
    merge_us_per = (with_merge - without) / max(1, partials)
    merge_overhead = max(0.0, merge_us_per * bw - partial_bytes) * (heads[0] // heads[1])

    result = dict(
        gpu=torch.cuda.get_device_name(0),
        date=datetime.date.today().isoformat(),
        commit=args.commit,
        command=" ".join(["python"] + sys.argv),
        bandwidth_bytes_per_us=bw,
        dot_flops_per_us=dot_flops,
        item_overhead_bytes=item_overhead,
        merge_overhead_bytes=merge_overhead,
        measured=dict(
            shared_items_us=us,
            tiny_items_us=us_tiny,
            tiny_units=units,
            per_unit_us_per_program=per_unit_us,
            merge_us=with_merge - without,
            partials=partials,
            programs=decoder.num_programs,
        ),
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
