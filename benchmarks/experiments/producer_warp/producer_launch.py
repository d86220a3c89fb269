"""Host side of the producer-warp shared part: the launch, put in a ``PatDecoder``'s lean pair
in place of the product's sm90 shared part through ``../paired_tiles/launch.py``'s dispatch;
one math warpgroup an item, or two on a pair of items that read the same KV chunk."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from producer_kernel import _producer_warp_kernel
from sglang_pat.kernels.checks import kv_layout
from sglang_pat.kernels.driver import prefer_max_shared_carveout
from sglang_pat.kernels.launch import needs_64bit_offsets
from sglang_pat.kernels.launch_sm90 import SM90_BLOCK_N, SM90_ROWS, SM90_STAGES

from sglang_pat.decoder import PatDecoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "paired_tiles"))
from launch import item_pairs, register_shared_launch  # noqa: E402

PRODUCER_WARPS = 4  # warps are reserved by warpgroups: a 1-warp partition holds 4 anyway
PRODUCER_REGS = 40  # each producer thread holds its 16 gathers' pointers (2 × 8 × 64-bit)


def pair_consumer_regs(maxnreg: int) -> int:
    """The two math warpgroups' registers a thread in a 12-warp launch of ``maxnreg``: an
    equal split of what the producer leaves (setmaxnreg takes multiples of 8)."""
    return (3 * maxnreg - PRODUCER_REGS) // 2 // 8 * 8


class ProducerWarpShared:
    """The producer-warp launch with ``shared_part_sm90``'s signature. ``maxnreg``: the
    registers a thread of the 8-warp launch reserves (128: the product's 4 × 255, so that the
    private part's two programs still fit beside it); the math warps take back what the
    producers give up (``setmaxnreg``: 216 and 40 at 128)."""

    def __init__(self, decoder: PatDecoder, maxnreg: int = 128, pairs: bool = False) -> None:
        if not decoder.sm90_shared or decoder.plan is None or not decoder.splits:
            raise ValueError("ProducerWarpShared: the decoder needs its sm90 part and a split plan")
        shared = decoder.plan.items[: decoder.plan.num_shared_items]
        if (shared[:, 4] < 0).any():
            raise ValueError("ProducerWarpShared: a shared item of packed tails (chunk < 0)")
        if (shared[:, 1] <= 0).any():  # the math partition would wait for a block never filled
            raise ValueError("ProducerWarpShared: a shared item without keys")
        self.maxnreg = maxnreg
        self.pairs = self.pair_count = None
        if pairs:  # the plan is fixed (a graph replays it): its pairs are made once
            made = item_pairs(decoder.plan)
            self.pairs = torch.from_numpy(made).to(decoder.device)
            self.pair_count = torch.tensor(
                [made.shape[0]], dtype=torch.int32, device=decoder.device
            )

    def __call__(self, q, k_buffer, v_buffer, o, kv_indices, items, members, header,
                 partial_o, partial_lse, *, menu, num_programs, sm_scale, logit_cap=0.0,
                 check=True):  # fmt: skip
        del menu, check  # the product's checks ran on the same tensors before
        paired = self.pairs is not None
        if logit_cap > 0.0:
            raise ValueError("ProducerWarpShared: no logit cap")
        _, _, k_tok, k_head = kv_layout(k_buffer)
        _, _, v_tok, v_head = kv_layout(v_buffer)
        num_kv_heads = k_buffer.shape[1]
        compiled = _producer_warp_kernel[(num_programs,)](
            q, k_buffer, v_buffer, o, kv_indices, items, members,
            self.pairs if paired else items, self.pair_count if paired else header, partial_o,
            partial_lse, q.stride(0), q.stride(1), k_tok, k_head, v_tok, v_head,
            o.stride(0), o.stride(1), partial_o.stride(0), partial_o.stride(1),
            partial_lse.stride(0), sm_scale,
            NUM_KV_HEADS=num_kv_heads, GROUP=q.shape[1] // num_kv_heads,
            BLOCK_D=k_buffer.shape[-1], BLOCK_M=SM90_ROWS, BLOCK_N=SM90_BLOCK_N,
            STAGES=SM90_STAGES, OFFSET_64=needs_64bit_offsets(q, k_buffer, v_buffer, o),
            PRODUCER_WARPS=PRODUCER_WARPS, PRODUCER_REGS=PRODUCER_REGS,
            CONSUMERS=2 if paired else 1,
            CONSUMER_REGS=pair_consumer_regs(self.maxnreg) if paired else 0,
            num_warps=4, maxnreg=self.maxnreg,
        )  # fmt: skip
        prefer_max_shared_carveout(compiled)
        return compiled


def use_producer_warp(
    decoder: PatDecoder, maxnreg: int = 128, pairs: bool = False
) -> ProducerWarpShared:
    """Make ``decoder``'s sm90 shared part the producer-warp kernel (``pairs``: two math
    warpgroups on each pair of the plan's items)."""
    launch = ProducerWarpShared(decoder, maxnreg, pairs)
    register_shared_launch(decoder, launch)
    return launch
