"""Experiment: the online softmax's O rescale skipped unless a row's max grew (session 76).

    python3 benchmarks/experiments/lazy_rescale/run.py --variant base|lazy [SHAPE ...]
        [--seconds 2] [--rounds 2] [--out FILE.json] [--outputs DIR]

``--variant lazy`` rewrites the package's ``kernels/attend.py`` in place (the caller runs it on
a copy of the package: ``PYTHONPATH`` at that copy) with ``LAZY_UPDATE`` below:
a row keeps its reference max until a block's max exceeds it by more than 8 in log2 units
(P ≤ 2⁸, exact in the division O / l), and the tile's O and l are rescaled only when some row
moved; with no row moved, P·V accumulates straight into O. The branch has a P·V of its own on
each side: with the rescale alone in the branch ptxas serialized every wgmma of the loop.

Per shape, pat's CUDA graph of four calls on four K/V copies is replayed back to back at the
cap, as in ``../energy/run.py`` (its ``measure``): µs and mJ a call, W, SM MHz. ``--outputs``
keeps each shape's output (base) or compares with the kept one (lazy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments"))  # ../energy/run.py as energy.run

# The first and last lines of ``kernels/attend.py``'s block update in ``_attend_block``
# (replaced from the first through the last) and its lazy form.
BASE_FIRST = "    m_new = tl.maximum(m_i, tl.max(qk, 1))\n"
BASE_LAST = "    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)\n"
LAZY_UPDATE = """    m_block = tl.max(qk, 1)
    grow = (m_block - m_i) * exp2_scale > 8.0
    m_new = tl.where(grow, m_block, m_i)
    p = tl.exp2(qk * exp2_scale - (m_new * exp2_scale)[:, None])
    v = tl.load(
        v_ptr + v_row[:, None] + kv_head * stride_vh + offs_dv[None, :], mask=v_mask, other=0.0
    )
    if tl.max(grow.to(tl.int32), 0) > 0:
        alpha = tl.exp2((m_i - m_new) * exp2_scale)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    else:
        l_i = l_i + tl.sum(p, 1)
        acc = tl.dot(p.to(v.dtype), v, acc)
"""


def make_lazy() -> None:
    """Rewrite the imported package's attend.py (a copy's: never the working tree's)."""
    # found on sys.path without importing: the package's import would compile the old source
    found = [Path(p) / "sglang_pat" / "kernels" / "attend.py" for p in sys.path if p]
    path = next((f for f in found if f.exists()), None)
    if path is None or ROOT in path.resolve().parents:
        raise SystemExit(f"attend.py at {path}: run on a copy of the package (PYTHONPATH)")
    text = path.read_text()
    if LAZY_UPDATE in text:
        return
    # _attend_tails has the same lines: look in _attend_block only
    block_start, block_end = text.find("def _attend_block("), text.find("def _attend_item(")
    block = text[block_start:block_end]
    if (
        min(block_start, block_end) < 0
        or block.count(BASE_FIRST) != 1
        or block.count(BASE_LAST) != 1
    ):
        raise SystemExit(f"{path}: the block update is not the expected one")
    start = block_start + block.index(BASE_FIRST)
    end = block_start + block.index(BASE_LAST) + len(BASE_LAST)
    path.write_text(text[:start] + LAZY_UPDATE + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("shapes", nargs="*", default=["4,128_4096,256", "4,128_4096,16"])
    parser.add_argument("--variant", choices=["base", "lazy"], required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--outputs", type=Path, help="outputs kept (base) or compared (lazy)")
    args = parser.parse_args()
    if args.variant == "lazy":
        make_lazy()
    import energy.run as energy  # after make_lazy: it imports the package
    from providers import Batch, make_decoder
    from workloads import workload_for

    nvml = energy.Nvml()
    result: dict = dict(variant=args.variant, gpu=torch.cuda.get_device_name(), shapes={})
    for shape in args.shapes:
        batch = Batch(workload_for(shape), 32, 8)
        decoder = make_decoder(batch)
        copies = energy.kv_copies(batch)
        out = torch.empty_like(batch.q)
        calls = [
            lambda k=k, v=v: decoder.forward(batch.q, k, v, out, sm_scale=batch.sm_scale)
            for k, v in copies
        ]
        calls[0]()
        torch.cuda.synchronize()
        row: dict = dict(splits=bool(decoder.splits))
        if args.outputs is not None:
            kept = args.outputs / f"{shape}.pt"
            if args.variant == "base":
                args.outputs.mkdir(parents=True, exist_ok=True)
                torch.save(out.cpu(), kept)
            elif kept.exists():
                diff = (out.cpu().float() - torch.load(kept).float()).abs().max().item()
                row["max_abs_diff_vs_base"] = diff
        replay = energy.graph_of(calls)
        runs = [energy.measure(nvml, replay, args.seconds) for _ in range(args.rounds)]
        for key in ("us", "mj", "watts", "sm_mhz"):
            row[key] = statistics.median(r[key] or 0 for r in runs)
        row["mj_rounds"] = [r["mj"] for r in runs]
        result["shapes"][shape] = row
        print(args.variant, shape, json.dumps(row), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
