"""Experiment: the Gluon kernel as the lean pair's shared part, beside the private part (sm90).

python benchmarks/experiments/gluon_shared/pair.py [SHAPE ...] [-- VARIANT ...]
  SHAPE: TREE[@Q_HEADS,KV_HEADS] (providers.batch_for); VARIANT: STAGESxBLOCK_N[xBLOCK_M] as
  in exp.py (no m/s/w suffixes here), e.g. 4x64, 4x64x128, 3x64; a trailing ``p`` runs the
  persistent build (one program per SM over the count in device memory, as a CUDA graph of
  the product would need), e.g. 4x64p.

Session 15 compared the Gluon kernel with the one launch, in series (exp.py): two launches
lost the overlap. Since then the lean kernel (cost_model.LeanKernel) splits a plan into two
concurrent launches anyway: the shared part on one program per SM and the private part on
two, forked on a side stream. On gsp 4 x 32's batch the shared part then takes 57.8 us on its
own and the pair 75.3 (../kept_whole/README.md), while the Gluon kernel alone did the same
shared items in 34.6 us (4 stages, 128 rows, one program per SM) and 46.7 (4 stages, 64
rows). Per SM, next to the two private-part programs (37 KB, 128 registers each), 4x64 and
3x64 fit beside both, 4x64x128 beside one, and its persistent build beside none (shared
memory and registers from offline.py: README.md, "Prepared in session 31").
So which of them makes the pair faster is a question of the block scheduler, measured here.

Per shape: the default plan with the split forced (the shared part's items first). Timed in
CUDA graphs after the benchmarks' flush, merge included where it says so:
- stock pair (the decoder's lean forward), stock shared part alone, private part alone, and
  the one launch (the same plan kept whole);
- per variant: the Gluon kernel alone on the shared part's items; the Gluon pair (private
  part forked on the decoder's side stream, Gluon on the main stream, join, merge), launched
  private first as the decoder does, and Gluon first, each with the private part on two
  programs per SM (the lean kernel's) and on one (room for the two-warpgroup variant).
  ``PRIVATE_ONE_WARP=1``: the private part on one warp a program (session 63).
Every Gluon pair's output is compared with the stock pair's: max |difference| in parentheses.
"""

import dataclasses
import itertools
import os
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(HERE))
from exp import gluon_takes, join_items, run_shapes  # noqa: E402
from graph_timing import graph_time_us  # noqa: E402
from kernel import shared_pack  # noqa: E402
from providers import HEAD_DIM, batch_for, make_decoder  # noqa: E402
from sglang_pat.kernels.launch import merge_states, pack_decode, prefer_max_shared_carveout  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402

# The private part on one warp a program, 255 registers (session 63, ``../lean_warps/``: as
# fast as its 4 warps, and 8 K registers a program instead of 16 K), so that a two-warpgroup
# variant of 3 stages (128 KB, 176 registers) fits beside two of them
PRIVATE_ONE_WARP = os.environ.get("PRIVATE_ONE_WARP") == "1"


def gluon_items(decoder, group: int, block_m: int):
    """The shared part's items as the Gluon kernel takes them, or None with the reason when
    it cannot take them all: tiles of up to 64 rows with chunk >= 0 at 64 rows; at 128, 64-row
    tiles of several members, joined two by two."""
    plan = decoder.plan
    shared = plan.items[: plan.num_shared_items]
    if not shared.shape[0]:
        return None, "no shared items"
    if block_m == 64:
        # every tile of up to 64 rows, the smaller ones padded with masked rows: what a Gluon
        # shared part in the product would take (gsp defaults' plans have 16- and 32-row ones)
        rows = np.array([decoder.menu.tiles[t].block_m for t in shared[:, 5]])
        if not ((rows <= 64) & (shared[:, 4] >= 0)).all():
            return None, "shared items of more than 64 rows or without a chunk"
        return torch.from_numpy(np.ascontiguousarray(shared)).cuda(), ""
    if not gluon_takes(shared, decoder.menu).all():
        return None, "shared items other than 64-row tiles of several members"
    return join_items(shared, group, block_m), ""


def checked_us(run, out: torch.Tensor, out_ref: torch.Tensor, flush) -> tuple[float, float]:
    """``run``'s µs (graph_timing.graph_time_us) and the max |difference| of the output it
    writes into ``out`` (NaN-filled first) from ``out_ref``."""
    out.fill_(float("nan"))
    run()
    torch.cuda.synchronize()
    err = (out.float() - out_ref.float()).abs().max().item()
    return graph_time_us(run, flush), err


def split_decoder(shape: str):
    """``(batch, menu, decoder)`` for ``shape`` with its default plan uploaded split (the
    shared part's items first, gate or not), or None (said why) when the head config has no
    lean kernel; shared with ``../private_occupancy/run.py``."""
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = default_tile_menu(HEAD_DIM, group)
    if menu.lean is None:
        print(f"{shape}: no lean kernel at this head config", flush=True)
        return None
    if PRIVATE_ONE_WARP:
        lean = dataclasses.replace(menu.lean, num_warps=1, max_registers=255)
        menu = dataclasses.replace(menu, lean=lean)
    decoder = make_decoder(batch, menu)
    decoder._splits = lambda plan: plan.num_shared_items > 0  # the split, gate or not
    decoder.upload(decoder.plan, batch.req_to_token)
    decoder.lean_needed, decoder.merge_needed = True, True
    return batch, menu, decoder


def run_shape(shape: str, variants: list[str], flush) -> None:
    split = split_decoder(shape)
    if split is None:
        return
    batch, menu, decoder = split
    group = batch.q.shape[1] // batch.k.shape[1]
    q, k, v, scale = batch.q, batch.k, batch.v, batch.sm_scale
    out_ref, out = torch.empty_like(q), torch.empty_like(q)
    args = (
        *(q, k, v, out, decoder.kv_indices, decoder.items, decoder.members, decoder.header),
        *(decoder.queue, decoder.partial_o, decoder.partial_lse),
    )
    options = dict(menu=menu, sm_scale=scale, check=False)

    def private_part(programs: int = decoder.num_private_programs) -> None:
        pack_decode(*args, num_programs=programs, part="private", **options)

    def shared_part() -> None:
        pack_decode(*args, num_programs=decoder.num_programs, part="shared", **options)

    def merge() -> None:
        merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)

    def pair(shared_launch, private_first: bool, private_programs: int) -> None:
        main = decoder.side.fork()
        if not private_first:
            shared_launch()
        with torch.cuda.stream(decoder.side.stream):
            private_part(private_programs)
        if private_first:
            shared_launch()
        decoder.side.join(main)
        merge()

    stock = lambda: decoder.forward(q, k, v, out_ref, sm_scale=scale)  # noqa: E731
    stock()
    torch.cuda.synchronize()
    times = {
        "stock pair + merge": graph_time_us(stock, flush),
        "stock shared part alone": graph_time_us(shared_part, flush),
        "private part alone": graph_time_us(private_part, flush),
    }
    plan = decoder.plan
    print(
        f"{shape}: items {plan.items.shape[0]} (shared part {plan.num_shared_items}), "
        + ", ".join(f"{name} {us:6.1f} us" for name, us in times.items()),
        flush=True,
    )
    sms = torch.cuda.get_device_properties(q.device).multi_processor_count
    for variant in variants:
        stages, block_n, block_m = (*map(int, variant.rstrip("p").split("x")), 64)[:3]
        items, why = gluon_items(decoder, group, block_m)
        if items is None:
            print(f"  gluon {variant}: skipped, {why}", flush=True)
            continue
        # persistent: one program per SM over the count in device memory, the header's shared
        # items as a graph of the product would read them (the joined 128-row items: their own)
        persistent = variant.endswith("p")
        count = None
        if persistent and block_m == 64:
            items, count = decoder.items, decoder.header  # the plan's buffers, shared items first

        def gluon(s=stages, n=block_n, m=block_m, its=items, c=count, p=persistent) -> None:
            compiled = shared_pack(
                q, k, v, out, decoder.kv_indices, its, decoder.members, decoder.partial_o,
                decoder.partial_lse, sm_scale=scale, stages=s, block_n=n, block_m=m, count=c,
                programs=sms if p else None,
            )  # fmt: skip
            prefer_max_shared_carveout(compiled)  # beside the private part, as the pair's

        alone = graph_time_us(gluon, flush)
        row = [f"  gluon {variant}: alone {alone:6.1f}"]
        for private_first, programs in itertools.product((True, False), (2 * sms, sms)):
            run = lambda g=gluon, f=private_first, p=programs: pair(g, f, p)  # noqa: E731
            us, err = checked_us(run, out, out_ref, flush)
            order = "private first" if private_first else "gluon first"
            row.append(
                f"pair + merge ({order}, private {programs // sms}/SM) {us:6.1f} ({err:.1e})"
            )
        print(", ".join(row) + " us", flush=True)
    decoder._splits = lambda plan: False
    decoder.upload(plan, batch.req_to_token)
    decoder.lean_needed = False
    one = lambda: decoder.forward(q, k, v, out, sm_scale=scale)  # noqa: E731
    print(f"  one launch + merge {graph_time_us(one, flush):6.1f} us", flush=True)


if __name__ == "__main__":
    shapes = ["4,128_4096,256", "1,64_4096,512", "1,256_2048,32"]
    run_shapes(run_shape, shapes, ["4x64", "4x64p", "4x64x128", "4x64x128p", "3x64"])
