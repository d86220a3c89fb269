"""Experiment: the private part's occupancy, and the two parts in series (H200).

python benchmarks/experiments/private_occupancy/run.py [SHAPE ...] [-- PROGRAMS_PER_SM ...]
  SHAPE: TREE[@Q_HEADS,KV_HEADS] (providers.batch_for); PROGRAMS_PER_SM: the private part's
  grid per SM to try (default 1 2 3 4 6 8).

The private part (cost_model.LeanKernel: 32-key tiles, 4 warps, 128 registers) runs two
programs per SM, to fit beside the shared part's one. Alone it could hold more: 128
registers x 128 threads allow four per SM. Nine of the suite's thirteen trees with sharing
end in 32-token tails of 256-1024 requests, and on the wide fan-out the private part alone
takes 22.6 us for 33.5 MB (1.48 TB/s; session 32, gluon_shared/pair.py), a chain of
dependent loads per unit. Does a fuller private part read them faster, and would the two
parts in series (private part on every SM's room, then the shared part on every program)
beat both the pair and the one launch?

Per shape: the default plan with the split forced. Timed in CUDA graphs after the
benchmarks' flush (graph_timing.graph_time_us), merge included where it says so:
- the stock pair and the one launch (the decoder's forwards);
- the private part alone at each grid;
- in series on one stream, with the shared part on all of its programs (header[1]): private
  part at 2 and 4 per SM then shared part then merge, and shared part first.
Each series' output is compared with the stock pair's (max |difference| in parentheses).
"""

import itertools
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks/experiments/gluon_shared"))
from exp import run_shapes  # noqa: E402
from graph_timing import graph_time_us  # noqa: E402
from pair import checked_us, split_decoder  # noqa: E402
from sglang_pat.kernels.launch import merge_states, pack_decode  # noqa: E402


def run_shape(shape: str, grids: list[str], flush) -> None:
    split = split_decoder(shape)
    if split is None:
        return
    batch, menu, decoder = split
    plan = decoder.plan
    if plan.num_shared_items == 0:
        return run_private_only(shape, batch, menu, decoder, grids, flush)
    q, k, v, scale = batch.q, batch.k, batch.v, batch.sm_scale
    out_ref, out = torch.empty_like(q), torch.empty_like(q)
    # the shared part on every program of its grid, as in series nothing runs beside it
    header_all_programs = decoder.header.clone()
    header_all_programs[1] = decoder.num_programs
    head = (q, k, v, out, decoder.kv_indices, decoder.items, decoder.members)
    tail = (decoder.queue, decoder.partial_o, decoder.partial_lse)
    options = dict(menu=menu, sm_scale=scale, check=False)
    sms = torch.cuda.get_device_properties(q.device).multi_processor_count

    def private_part(per_sm: int) -> None:
        pack_decode(*head, decoder.header, *tail, num_programs=per_sm * sms, part="private",
                    **options)  # fmt: skip

    def shared_part(header: torch.Tensor = header_all_programs) -> None:
        pack_decode(*head, header, *tail, num_programs=decoder.num_programs, part="shared",
                    **options)  # fmt: skip

    def merge() -> None:
        merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)

    def pair(per_sm: int, header: torch.Tensor) -> None:
        main = decoder.side.fork()
        with torch.cuda.stream(decoder.side.stream):
            private_part(per_sm)
        shared_part(header)
        decoder.side.join(main)
        merge()

    def series(per_sm: int, private_first: bool) -> None:
        if private_first:
            private_part(per_sm)
        shared_part()
        if not private_first:
            private_part(per_sm)
        merge()

    stock = lambda: decoder.forward(q, k, v, out_ref, sm_scale=scale)  # noqa: E731
    stock()
    torch.cuda.synchronize()
    times = {"stock pair + merge": graph_time_us(stock, flush)}
    times["shared part alone, all programs"] = graph_time_us(lambda: shared_part(), flush)
    for per_sm in map(int, grids):
        times[f"private {per_sm}/SM"] = graph_time_us(lambda p=per_sm: private_part(p), flush)
    print(
        f"{shape}: items {plan.items.shape[0]} (shared part {plan.num_shared_items}), "
        + ", ".join(f"{name} {us:6.1f}" for name, us in times.items())
        + " us",
        flush=True,
    )
    row = []
    for per_sm in (2, 4):
        for private_first in (True, False):
            run = lambda p=per_sm, f=private_first: series(p, f)  # noqa: E731
            us, err = checked_us(run, out, out_ref, flush)
            order = "private first" if private_first else "shared first"
            row.append(f"series ({order}, private {per_sm}/SM) {us:6.1f} ({err:.1e})")
    # the pair as the decoder forks it (private part first, on the side stream), with the
    # private part on more programs (those past what fits start as room frees, on their
    # strided units) and/or the shared part on all of its programs (the second per SM starts
    # once the private part's programs leave)
    for per_sm, header in itertools.product((2, 4), (decoder.header, header_all_programs)):
        run = lambda p=per_sm, h=header: pair(p, h)  # noqa: E731
        us, err = checked_us(run, out, out_ref, flush)
        shared = "1/SM" if header is decoder.header else "2/SM"
        row.append(f"pair (private {per_sm}/SM, shared {shared}) {us:6.1f} ({err:.1e})")
    decoder._splits = lambda plan: False
    decoder.upload(plan, batch.req_to_token)
    decoder.lean_needed = False
    one = lambda: decoder.forward(q, k, v, out, sm_scale=scale)  # noqa: E731
    row.append(f"one launch + merge {graph_time_us(one, flush):6.1f}")
    print("  " + ", ".join(row) + " us", flush=True)


def run_private_only(shape: str, batch, menu, decoder, grids: list[str], flush) -> None:
    """A plan without shared items: the one launch (the all-items build, the menu's programs
    per SM) against the private-part build alone on every item."""
    q, k, v, scale = batch.q, batch.k, batch.v, batch.sm_scale
    out_ref, out = torch.empty_like(q), torch.empty_like(q)
    decoder.lean_needed = False  # split_decoder's upload kept a plan without shared items whole
    one = lambda: decoder.forward(q, k, v, out_ref, sm_scale=scale)  # noqa: E731
    one()
    torch.cuda.synchronize()
    num_items = decoder.plan.items.shape[0]
    header = decoder.header.clone()
    header.copy_(torch.tensor([0, 0, num_items], dtype=header.dtype))
    sms = torch.cuda.get_device_properties(q.device).multi_processor_count
    args = (q, k, v, out, decoder.kv_indices, decoder.items, decoder.members, header,
            decoder.queue, decoder.partial_o, decoder.partial_lse)  # fmt: skip

    def private_alone(per_sm: int) -> None:
        pack_decode(*args, num_programs=per_sm * sms, part="private", menu=menu, sm_scale=scale,
                    check=False)  # fmt: skip
        if decoder.merge_needed:
            merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)

    row = [f"one launch + merge {graph_time_us(one, flush):6.1f}"]
    for per_sm in map(int, grids):
        us, err = checked_us(lambda p=per_sm: private_alone(p), out, out_ref, flush)
        row.append(f"private part {per_sm}/SM + merge {us:6.1f} ({err:.1e})")
    print(f"{shape}: items {num_items}, no shared items, " + ", ".join(row) + " us", flush=True)


if __name__ == "__main__":
    shapes = ["1,256_2048,32", "1,256_256,32", "4,128_4096,256", "1,64_4096,512"]
    run_shapes(run_shape, shapes, ["1", "2", "3", "4", "6", "8"])
