"""Launcher of the sm90 shared part (``shared_part_sm90.py``): what it takes, checks, launch.

It replaces the lean pair's Triton shared part where ``sm90_unsupported_reason`` and
``sm90_inputs_fit`` allow. Its outputs are the Triton shared part's, so the merge and the
private part beside it are unchanged.
"""

from __future__ import annotations

import functools

import torch

from ..cost_model import TileMenu
from .checks import check_arg, check_pack_inputs, kv_layout
from .driver import prefer_max_shared_carveout
from .launch import needs_64bit_offsets

SM90_DTYPES = (torch.float16, torch.bfloat16)
SM90_HEAD_DIMS = (64, 128)
SM90_ROWS = 64  # one warpgroup: tiles of up to 64 rows (members × GQA group)
# 4 stages of 64-key blocks: 144 KB of shared memory at d = 128, so one program fits on an SM
# beside the private part's two (benchmarks/experiments/gluon_shared/README.md, session 31);
# 4 stages were 20% faster than 3 where one program per SM runs (session 15)
SM90_STAGES, SM90_BLOCK_N = 4, 64
# The gather partition: warps are reserved by warpgroups, so 4. Its threads hold their rows'
# 64-bit pointers, and for packed tails each row's member range: at 40 registers it spilled
# (52 B at d = 128); at 64 only GQA 1 at d = 128 spills, 4 B (offline, bf16, session 73).
# maxnreg 128 on the program's 8 warps keeps its register file the one-warpgroup build's
# (4 × 255), so that the private part's two programs still fit on its SM; setmaxnreg then
# gives the math warpgroup 192 (benchmarks/experiments/producer_warp/README.md).
SM90_GATHER_WARPS, SM90_GATHER_REGS, SM90_MAXNREG = 4, 64, 128


@functools.cache
def _gluon_importable() -> bool:
    try:
        from . import shared_part_sm90  # noqa: F401
    except ImportError:
        return False
    return True


def sm90_unsupported_reason(device: torch.device, menu: TileMenu) -> str | None:
    """Why the sm90 shared part cannot replace this decoder's Triton shared part, or None."""
    if device.type != "cuda":
        return f"device {device} is not CUDA"
    if torch.cuda.get_device_capability(device) != (9, 0):
        return f"compute capability {torch.cuda.get_device_capability(device)} is not 9.0"
    if menu.lean is None:
        return "no lean kernel (the shared part runs in the one launch)"
    if max(tile.block_m for tile in menu.tiles) > SM90_ROWS:
        return f"the menu has tiles of more than {SM90_ROWS} rows"
    if not _gluon_importable():
        return "triton.experimental.gluon is not importable"
    return None


def sm90_inputs_fit(
    q: torch.Tensor, k_buffer: torch.Tensor, v_buffer: torch.Tensor, logit_cap: float
) -> bool:
    """Whether a layer's tensors are of the kinds the kernel reads: pages of one token,
    fp16/bf16, head_dim 64 or 128 for K and V alike, no logit cap."""
    return (
        k_buffer.dim() == 3
        and v_buffer.dim() == 3
        and k_buffer.dtype in SM90_DTYPES
        and v_buffer.dtype == k_buffer.dtype
        and k_buffer.shape[-1] in SM90_HEAD_DIMS
        and v_buffer.shape[-1] == k_buffer.shape[-1] == q.shape[-1]
        and logit_cap <= 0.0
    )


def shared_part_sm90(
    q: torch.Tensor,
    k_buffer: torch.Tensor,
    v_buffer: torch.Tensor,
    o: torch.Tensor,
    kv_indices: torch.Tensor,
    items: torch.Tensor,
    members: torch.Tensor,
    header: torch.Tensor,
    partial_o: torch.Tensor,
    partial_lse: torch.Tensor,
    *,
    menu: TileMenu,
    num_programs: int,
    sm_scale: float,
    logit_cap: float = 0.0,
    check: bool = True,
) -> object:
    """The first ``header[0]`` items over every KV head, as ``pack_decode(part="shared")``
    computes them, on ``num_programs`` programs (one an SM beside the private part): a gather
    partition fills each program's ring, its math warpgroup computes. Those items must be
    shared ones (``chunk >= 0``): the kernel has no packed-tails path, so ``header`` must be a
    split one, as ``PatDecoder`` always stages beside this part. Returns the compiled kernel."""
    if check:
        check_pack_inputs(
            *(q, k_buffer, v_buffer, o, kv_indices, items, members, header, None),
            *(partial_o, partial_lse),
            menu=menu,
            num_programs=num_programs,
            logit_cap=logit_cap,
            part="shared",
        )
        check_arg(sm90_inputs_fit(q, k_buffer, v_buffer, logit_cap), "k_buffer",
                  "the sm90 shared part reads [slots, kv_heads, 64 | 128] fp16/bf16 K and V"
                  " of one head size, without a logit cap")  # fmt: skip
        check_arg(SM90_ROWS % (q.shape[1] // k_buffer.shape[1]) == 0, "q", "GQA group ∤ 64")
    from .shared_part_sm90 import _shared_part_kernel

    _, _, k_tok, k_head = kv_layout(k_buffer)
    _, _, v_tok, v_head = kv_layout(v_buffer)
    num_kv_heads = k_buffer.shape[1]
    compiled = _shared_part_kernel[(num_programs,)](
        q, k_buffer, v_buffer, o, kv_indices, items, members, header, partial_o, partial_lse,
        q.stride(0), q.stride(1), k_tok, k_head, v_tok, v_head,
        o.stride(0), o.stride(1), partial_o.stride(0), partial_o.stride(1), partial_lse.stride(0),
        sm_scale,
        NUM_KV_HEADS=num_kv_heads, GROUP=q.shape[1] // num_kv_heads, BLOCK_D=k_buffer.shape[-1],
        BLOCK_M=SM90_ROWS, BLOCK_N=SM90_BLOCK_N, STAGES=SM90_STAGES,
        OFFSET_64=needs_64bit_offsets(q, k_buffer, v_buffer, o),
        GATHER_WARPS=SM90_GATHER_WARPS, GATHER_REGS=SM90_GATHER_REGS,
        num_warps=4, maxnreg=SM90_MAXNREG,
    )  # fmt: skip
    prefer_max_shared_carveout(compiled)  # beside the private part, as the Triton parts ask
    return compiled
