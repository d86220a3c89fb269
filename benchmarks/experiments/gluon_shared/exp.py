"""Experiment: PAT's shared packs in a Gluon kernel with FA3's intra-warpgroup overlap (sm90).

python benchmarks/experiments/gluon_shared/exp.py [SHAPE ...] [-- VARIANT ...]
  SHAPE: TREE[@Q_HEADS,KV_HEADS] (providers.batch_for); VARIANT: STAGESxBLOCK_N[xBLOCK_M]
  with an optional ``m`` (the math alone: no K/V after the first STAGES-1 blocks, wrong
  output, only timed), ``s`` (with ``m``: no softmax either, the GEMMs and waits alone) or
  ``w`` (no flush), e.g. 3x64, 4x64x128, 4x64m, 3x64ms. At 128 rows the plan's
  64-row items of one KV range and chunk are joined two by two where their members are
  consecutive.

Per shape, the default plan; its shared items (several members, chunk >= 0, the 64-row tile)
go to ``kernel.shared_pack``. Timed in CUDA graphs after the benchmarks' flush:
- stock: the pack kernel on all items with the merge, on the shared items only, on the rest;
- gluon: the Gluon kernel on the shared items (each variant);
- two launches: the Gluon kernel, then the pack kernel on the rest and the merge.
Checks: the Gluon kernel's partial O and LSE against the pack kernel's on the same slots, and
the two-launch output against the stock output.
"""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(HERE))
from graph_timing import graph_time_us  # noqa: E402
from kernel import shared_pack  # noqa: E402
from providers import HEAD_DIM, batch_for, make_decoder  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402


def join_items(items, group: int, block_m: int):
    """The 64-row items joined into ``block_m``-row ones where their members are consecutive."""
    joined = []
    for item in sorted(items.tolist(), key=lambda it: (it[0], it[1], it[4], it[2])):
        last = joined[-1] if joined else None
        if (
            last is not None
            and (last[0], last[1], last[4]) == (item[0], item[1], item[4])
            and last[2] + last[3] == item[2]
            and (last[3] + item[3]) * group <= block_m
        ):
            last[3] += item[3]
        else:
            joined.append(list(item))
    return torch.tensor(joined, dtype=torch.int32).cuda()


def gluon_takes(items: np.ndarray, menu) -> np.ndarray:
    """Which plan items the Gluon kernel runs: 64-row tiles of several members, chunk >= 0."""
    rows = np.array([menu.tiles[t].block_m for t in items[:, 5]])
    return (items[:, 3] > 1) & (items[:, 4] >= 0) & (rows == 64)


def run_shape(shape: str, variants: list[str], flush) -> None:
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = default_tile_menu(HEAD_DIM, group)
    decoder = make_decoder(batch, menu)
    plan = decoder.plan
    items = plan.items
    shared = gluon_takes(items, menu)
    rest_plan = dataclasses.replace(plan, items=items[~shared])
    shared_items = torch.from_numpy(items[shared]).cuda()
    prefix = int((items[shared, 1].astype("int64") * items[shared, 3] * group).sum())
    mflop = 4 * HEAD_DIM * prefix * batch.k.shape[1] / 1e6

    out_ref = torch.empty_like(batch.q)
    stock = lambda: decoder.forward(batch.q, batch.k, batch.v, out_ref, sm_scale=batch.sm_scale)  # noqa: E731
    t_all = graph_time_us(stock, flush)
    out = torch.empty_like(batch.q)
    decoder.merge_needed = False
    run = lambda: decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)  # noqa: E731
    decoder.upload(dataclasses.replace(plan, items=items[shared]), batch.req_to_token)
    t_shared = graph_time_us(run, flush)
    t_warm = graph_time_us(run, lambda: None)
    run()
    torch.cuda.synchronize()
    # the slots the shared items wrote
    members = plan.members
    slot_list = []
    for m0, n, chunk in items[shared][:, 2:5]:
        slot_list += [
            int(members[m, 1]) + int(chunk) for m in range(m0, m0 + n) if members[m, 1] >= 0
        ]
    slots = torch.tensor(sorted(set(slot_list)), device="cuda", dtype=torch.long)
    ref_o, ref_lse = decoder.partial_o[slots].clone(), decoder.partial_lse[slots].clone()
    decoder.upload(rest_plan, batch.req_to_token)
    t_rest = graph_time_us(run, flush)
    print(
        f"{shape}: items {items.shape[0]}, shared 64-row items {int(shared.sum())} "
        f"({mflop:.0f} MFLOP); stock: all + merge {t_all:6.1f} us, shared only {t_shared:6.1f} "
        f"({mflop / t_shared:.0f} TFLOP/s; no flush {t_warm:.1f}), rest only {t_rest:6.1f}",
        flush=True,
    )
    decoder.merge_needed = True
    for variant in variants:
        stages, block_n, block_m = (*map(int, variant.rstrip("mws").split("x")), 64)[:3]
        math_only, warm = "m" in variant, "w" in variant
        its = shared_items if block_m == 64 else join_items(items[shared], group, block_m)
        gluon = lambda s=stages, n=block_n, m=block_m, its=its, v=variant: shared_pack(  # noqa: E731
            batch.q, batch.k, batch.v, out, decoder.kv_indices, its, decoder.members,
            decoder.partial_o, decoder.partial_lse, sm_scale=batch.sm_scale, stages=s,
            block_n=n, block_m=m, refill="m" not in v, softmax="s" not in v,
        )  # fmt: skip
        name = f"  gluon {variant} ({its.shape[0]} items):"
        if math_only or warm:
            t_g = graph_time_us(gluon, (lambda: None) if warm else flush)
            note = f"stock shared only, no flush {t_warm:6.1f} us" if warm else "math only"
            note += ", no softmax" if "s" in variant else ""
            print(f"{name} {t_g:6.1f} us ({mflop / t_g:.0f} TFLOP/s), {note}", flush=True)
            continue
        decoder.partial_o[slots] = float("nan")
        gluon()
        torch.cuda.synchronize()
        err_o = (decoder.partial_o[slots] - ref_o).abs().max().item()
        err_lse = (decoder.partial_lse[slots] - ref_lse).abs().max().item()
        t_g = graph_time_us(gluon, flush)
        both = lambda g=gluon: (g(), decoder.forward(  # noqa: E731
            batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale))  # fmt: skip
        t_both = graph_time_us(both, flush)
        out.zero_()
        both()
        torch.cuda.synchronize()
        err_out = (out.float() - out_ref.float()).abs().max().item()
        print(
            f"{name} shared {t_g:6.1f} us ({mflop / t_g:.0f} TFLOP/s), max|dO| {err_o:.1e} "
            f"|dLSE| {err_lse:.1e}; gluon + rest + merge {t_both:6.1f} us (stock {t_all:.1f}), "
            f"max|d out| {err_out:.1e}",
            flush=True,
        )
    decoder.upload(plan, batch.req_to_token)


def run_shapes(run, shapes: list[str], variants: list[str]) -> None:
    """``SHAPE ... [-- VARIANT ...]`` from the command line (the defaults when absent), each
    shape through ``run(shape, variants, flush)``; shared with ``pair.py``."""
    args = sys.argv[1:]
    split = args.index("--") if "--" in args else len(args)
    shapes = args[:split] or shapes
    variants = args[split + 1 :] or variants
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    print(f"# {torch.cuda.get_device_name()}, {sys.argv}", flush=True)
    for shape in shapes:
        run(shape, variants, flush)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    run_shapes(run_shape, ["1,64_4096,512", "4,128_4096,256", "1,256_2048,32"], ["3x64"])
