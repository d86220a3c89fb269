"""Host side of the paired-tiles shared part: the plan's item pairs, the launch, and a dispatch
that puts it in a ``PatDecoder``'s lean pair in place of the product's sm90 shared part."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from kernel import _paired_shared_kernel
from sglang_pat.kernels.checks import kv_layout
from sglang_pat.kernels.driver import prefer_max_shared_carveout
from sglang_pat.kernels.launch import needs_64bit_offsets
from sglang_pat.kernels.launch_sm90 import SM90_ROWS

import sglang_pat.decoder as decoder_module
from sglang_pat.decoder import PatDecoder
from sglang_pat.plan import PackPlan

PAIR_STAGES = 3  # 128 KB at 64-key blocks: two Q tiles and the ring, under the product's 144 KB


def item_pairs(plan: PackPlan) -> np.ndarray:
    """``[P, 2]`` int32: the plan's shared items (its first ``num_shared_items``) paired by the
    KV chunk they read (same ``kv_start``, ``kv_len``, ``chunk``), in the plan's order of
    their first item; an item without a partner is paired with −1."""
    shared = plan.items[: plan.num_shared_items]
    if (shared[:, 4] < 0).any():
        raise ValueError("item_pairs: a shared item of packed tails (chunk < 0)")
    pairs: list[list[int]] = []
    waiting: dict[tuple[int, int, int], int] = {}  # a chunk's unpaired item → its pair's index
    for index, (kv_start, kv_len, _, _, chunk, _) in enumerate(shared.tolist()):
        key = (kv_start, kv_len, chunk)
        if key in waiting:
            pairs[waiting.pop(key)][1] = index
        else:
            waiting[key] = len(pairs)
            pairs.append([index, -1])
    return np.array(pairs, dtype=np.int32).reshape(-1, 2)


class PairedShared:
    """The paired-tiles launch for one decoder's (fixed) plan, with ``shared_part_sm90``'s
    signature, so that the decoder's forward calls it where it calls the product's."""

    def __init__(self, decoder: PatDecoder, block_n: int = 64) -> None:
        # sm90_shared: its menu's tiles hold at most SM90_ROWS rows (sm90_unsupported_reason)
        if not decoder.sm90_shared or decoder.plan is None or not decoder.splits:
            raise ValueError("PairedShared: the decoder needs its sm90 part and a split plan")
        pairs = item_pairs(decoder.plan)
        self.pairs = torch.from_numpy(pairs).to(decoder.device)
        self.count = torch.tensor([pairs.shape[0]], dtype=torch.int32, device=decoder.device)
        self.block_n = block_n

    def __call__(self, q, k_buffer, v_buffer, o, kv_indices, items, members, header,
                 partial_o, partial_lse, *, menu, num_programs, sm_scale, logit_cap=0.0,
                 check=True):  # fmt: skip
        del menu, header, check  # the product's checks ran on the same tensors before
        if logit_cap > 0.0:
            raise ValueError("PairedShared: no logit cap")
        _, _, k_tok, k_head = kv_layout(k_buffer)
        _, _, v_tok, v_head = kv_layout(v_buffer)
        num_kv_heads = k_buffer.shape[1]
        compiled = _paired_shared_kernel[(num_programs,)](
            q, k_buffer, v_buffer, o, kv_indices, items, members, self.pairs, self.count,
            partial_o, partial_lse,
            q.stride(0), q.stride(1), k_tok, k_head, v_tok, v_head,
            o.stride(0), o.stride(1), partial_o.stride(0), partial_o.stride(1),
            partial_lse.stride(0), sm_scale,
            NUM_KV_HEADS=num_kv_heads, GROUP=q.shape[1] // num_kv_heads,
            BLOCK_D=k_buffer.shape[-1], BLOCK_M=SM90_ROWS, BLOCK_N=self.block_n,
            STAGES=PAIR_STAGES, OFFSET_64=needs_64bit_offsets(q, k_buffer, v_buffer, o),
            num_warps=4,
        )  # fmt: skip
        prefer_max_shared_carveout(compiled)
        return compiled


_launches: dict[int, Callable] = {}  # a decoder's items buffer (data_ptr) → its launch
_product_launch = decoder_module.shared_part_sm90


def _dispatch(*args, **kwargs):
    """``sglang_pat.decoder.shared_part_sm90`` while this module is loaded: an experiment's
    launch for decoders given one (``register_shared_launch``), the product's for the others."""
    launch = _launches.get(args[5].data_ptr())  # args[5]: the decoder's items buffer
    return (launch or _product_launch)(*args, **kwargs)


decoder_module.shared_part_sm90 = _dispatch


def register_shared_launch(decoder: PatDecoder, launch: Callable) -> None:
    """Run ``launch`` (``shared_part_sm90``'s signature) as ``decoder``'s sm90 shared part."""
    _launches[decoder.items.data_ptr()] = launch


def use_paired(decoder: PatDecoder, block_n: int = 64) -> PairedShared:
    """Make ``decoder``'s sm90 shared part the paired-tiles kernel (its plan as it is now)."""
    launch = PairedShared(decoder, block_n)
    register_shared_launch(decoder, launch)
    return launch
