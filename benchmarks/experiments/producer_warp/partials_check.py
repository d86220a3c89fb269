"""The sm90 shared part's partials against the Triton shared part's, on one split plan.

python3 benchmarks/experiments/producer_warp/partials_check.py TREE HQ,HKV HEAD_DIM DTYPE
    [--runs N] [--programs P]

Plans TREE as tests/test_sm90_shared.py does, fills the partial buffers with NaN, runs each
shared part alone (N times for the sm90 one, on P programs or the decoder's), and prints, per
run, the (slot, q head) rows it left unwritten or wrote differently, with their tile row (the
warp of the math warpgroup that holds it: row // 16) and their unit. Written to pin down
session 73's d = 64 failures: a race shows as rows that move between runs.
"""

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import decoder_for, make_batch, tile_menu  # noqa: E402
from sglang_pat.kernels.launch import pack_decode  # noqa: E402
from sglang_pat.kernels.launch_sm90 import shared_part_sm90  # noqa: E402

from sglang_pat.forest import PrefixForest  # noqa: E402


def unit_of_slot(decoder, group: int) -> dict[tuple[int, int], tuple[int, int, int]]:
    """(slot, kv head) -> (item, kv head, the member's first tile row) for the shared items."""
    items = decoder.items.view(-1, 6)[: int(decoder.header[0])].tolist()
    members = decoder.members.view(-1, 4).tolist()
    where = {}
    for index, (_, _, member_start, num_members, chunk, _) in enumerate(items):
        for m in range(num_members):
            slot = members[member_start + m][1] + max(chunk, 0)
            where[slot] = (index, m * group)
    return where


def compare(label: str, got, want, where, group: int) -> None:
    o_got, lse_got = got
    o_want, lse_want = want
    written = ~torch.isnan(lse_want)  # [slots, Hq]
    unwritten = written & torch.isnan(lse_got)
    o_diff = (o_got - o_want).abs().amax(-1)
    wrong = written & ~unwritten & (((lse_got - lse_want).abs() > 1e-2) | ~(o_diff < 2e-2))
    bad = (unwritten | wrong).nonzero().tolist()
    print(
        f"{label}: {int(written.sum())} rows, {int(unwritten.sum())} unwritten, "
        f"{int(wrong.sum())} wrong",
        flush=True,
    )
    for slot, head in bad[:12]:
        item, row0 = where.get(slot, (-1, 0))
        row = row0 + head % group
        print(
            f"   slot {slot} head {head} (kv head {head // group}): item {item}, tile row "
            f"{row} (warp {row // 16}); lse {lse_got[slot, head]:.4g} vs "
            f"{lse_want[slot, head]:.4g}, |dO| {o_diff[slot, head]:.4g}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree")
    parser.add_argument("heads")
    parser.add_argument("head_dim", type=int)
    parser.add_argument("dtype", choices=["bf16", "fp16"])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--programs", type=int, default=0)
    args = parser.parse_args()
    num_q_heads, num_kv_heads = map(int, args.heads.split(","))
    group = num_q_heads // num_kv_heads
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    forest = PrefixForest.from_tree_spec(args.tree)
    kv = make_batch(
        forest,
        num_q_heads=num_q_heads,
        num_kv_heads=num_kv_heads,
        head_dim=args.head_dim,
        dtype=dtype,
    )
    menu = tile_menu(args.head_dim, group, "always")
    decoder = decoder_for(
        kv,
        max_requests=forest.num_requests,
        max_kv_indices=int(forest.seq_lens.sum()),
        menu=menu,
        sm90_shared=True,
    )
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    assert decoder.splits
    head = (
        kv.q,
        kv.k_buffer,
        kv.v_buffer,
        torch.empty_like(kv.q),
        decoder.kv_indices,
        decoder.items,
        decoder.members,
        decoder.header,
    )
    options = dict(menu=menu, sm_scale=0.1)
    programs = args.programs or decoder.scheduler.num_shared_part_programs
    print(
        f"{args.tree} {args.heads} d {args.head_dim} {args.dtype}: "
        f"{int(decoder.header[0])} shared items, {programs} programs",
        flush=True,
    )
    where = unit_of_slot(decoder, group)

    def run(launch) -> tuple[torch.Tensor, torch.Tensor]:
        decoder.partial_o.fill_(float("nan"))
        decoder.partial_lse.fill_(float("nan"))
        launch()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return decoder.partial_o.clone(), decoder.partial_lse.clone()

    want = run(
        lambda: pack_decode(
            *head,
            decoder.queue,
            decoder.partial_o,
            decoder.partial_lse,
            num_programs=decoder.num_programs,
            part="shared",
            **options,
        )
    )
    for index in range(args.runs):
        got = run(
            lambda: shared_part_sm90(
                *head, decoder.partial_o, decoder.partial_lse, num_programs=programs, **options
            )
        )
        compare(f"sm90 run {index}", got, want, where, group)


if __name__ == "__main__":
    main()
