"""Launchers of the pack and merge kernels: check inputs once, compute the grid, launch.

Every check raises ``ValueError`` naming the argument. Grids depend only on buffer capacities
and the tile config, never on the plan's contents, so CUDA graphs can capture the launches.
"""

from __future__ import annotations

import torch
import triton

from ..cost_model import TileMenu, private_part_tiles
from .checks import (
    HEAD_DIMS,
    KV_DTYPES,
    PARTS,
    check_arg,
    check_int32,
    check_new_kv,
    check_pack_inputs,
    kv_layout,
)
from .driver import pdl_supported, prefer_max_shared_carveout
from .merge import _merge_states_kernel
from .pack_decode import _pack_decode_kernel

__all__ = ["HEAD_DIMS", "KV_DTYPES", "check_pack_inputs", "kv_layout"]  # and the launchers

INT32_OFFSET_LIMIT = 2**31  # tensors with this many elements or more take 64-bit offsets
MERGE_PIPELINE_FROM = 8  # requests with more partial slots than this pipeline the merge
# ``slots_at_once``: a program merges MERGE_SLOT_HEADS heads, MERGE_SLOTS slots at a time
MERGE_SLOT_HEADS, MERGE_SLOTS = 2, 16
MERGE_HEADS = 8  # heads a program of the slot-by-slot merge merges


def _kernel_args(
    q: torch.Tensor,
    k_buffer: torch.Tensor,
    v_buffer: torch.Tensor,
    o: torch.Tensor,
    partial_o: torch.Tensor,
    partial_lse: torch.Tensor,
    sm_scale: float,
    logit_cap: float,
) -> tuple[tuple, tuple, dict[str, int | bool]]:
    """The pack kernel's strides, its scalars, then its constexprs but the tiles, the part and
    the new K/V's."""
    page_size, k_page, k_tok, k_head = kv_layout(k_buffer)
    _, v_page, v_tok, v_head = kv_layout(v_buffer)
    num_kv_heads, head_dim = k_buffer.shape[-2], k_buffer.shape[-1]
    v_dim = v_buffer.shape[-1]
    strides = (
        *(q.stride(0), q.stride(1), k_page, k_tok, k_head, v_page, v_tok, v_head),
        *(o.stride(0), o.stride(1), partial_o.stride(0), partial_o.stride(1)),
        partial_lse.stride(0),
    )
    scalars = (sm_scale, logit_cap if logit_cap > 0 else 1.0)
    constexprs = dict(
        NUM_KV_HEADS=num_kv_heads,
        GROUP=q.shape[1] // num_kv_heads,
        HEAD_DIM=head_dim,
        BLOCK_D=triton.next_power_of_2(head_dim),
        V_DIM=v_dim,
        BLOCK_DV=triton.next_power_of_2(v_dim),
        PAGE_SIZE=page_size,
        HAS_LOGIT_CAP=logit_cap > 0,
        SAME_KV_LAYOUT=k_buffer.stride() == v_buffer.stride(),
        OFFSET_64=needs_64bit_offsets(q, k_buffer, v_buffer, o),
    )
    return strides, scalars, constexprs


def needs_64bit_offsets(*tensors: torch.Tensor) -> bool:
    """Whether an indexed tensor is too large for int32 element offsets, which the kernels
    use otherwise (a third fewer loop instructions in the pack kernel)."""
    return max(t.numel() for t in tensors) >= INT32_OFFSET_LIMIT


def pack_decode(
    q: torch.Tensor,
    k_buffer: torch.Tensor,
    v_buffer: torch.Tensor,
    o: torch.Tensor,
    kv_indices: torch.Tensor,
    items: torch.Tensor,
    members: torch.Tensor,
    header: torch.Tensor,
    queue: torch.Tensor,
    partial_o: torch.Tensor,
    partial_lse: torch.Tensor,
    *,
    menu: TileMenu,
    num_programs: int,
    sm_scale: float,
    logit_cap: float = 0.0,
    check: bool = True,
    part: str = "all",
    pdl: bool = False,
    new_kv: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> object:
    """The plan's items: ``q [B, Hq, D]`` against the KV buffers into ``o`` / partials.

    ``part`` (the kernel's ``PART``): ``"all"`` items, ``header[0]`` of them (with ``pdl``,
    ``header[1]`` nonzero: the merge may start as this kernel starts); with
    ``menu.lean``, the ``"shared"`` part (the same items, on ``header[1]`` of the
    ``num_programs`` programs) or the ``"private"`` part (``header[2]`` items from
    ``header[0]`` on, with the lean tiles, warps and register cap; the queue is not used).
    ``queue`` is an int32 zero (left zero after every launch), ``partial_o [slots, Hq, Dv]``
    and ``partial_lse [slots, Hq]`` are fp32. ``check=False`` skips the input checks (for a
    caller that already checked inputs of the same signature). The two parts ask for the
    largest shared-memory carveout, to share SMs. ``pdl``: the next launch on the stream is
    ``merge_states(..., pdl=True)``, which may then start before this kernel ends
    (``pdl_supported``). ``new_kv = (k_new [B, Hkv, D], v_new [B, Hkv, Dv], new_loc [B])``:
    the launch first writes the layer's new K/V into the buffers at ``new_loc``, each unit for
    the requests whose new slot it reads (the plan keeps every new token in a private tail:
    ``PatDecoder(stores_new_kv=True)``). Returns Triton's compiled kernel (its ``metadata``
    holds shared memory and registers).
    """
    if check:
        check_arg(not pdl or pdl_supported(q.device), "pdl", "needs a CUDA device of capability 9+")
        check_arg(not pdl or part == "all", "pdl", f"only for the all-items launch, not {part!r}")
        check_arg(
            not pdl or header.numel() >= 2, "header", "needs 2 entries with pdl (see pack_decode)"
        )
        check_pack_inputs(
            *(q, k_buffer, v_buffer, o, kv_indices, items, members, header, queue),
            *(partial_o, partial_lse),
            menu=menu,
            num_programs=num_programs,
            logit_cap=logit_cap,
            part=part,
        )
        if new_kv is not None:
            check_new_kv(new_kv, q, k_buffer, v_buffer)
    strides, scalars, constexprs = _kernel_args(
        q, k_buffer, v_buffer, o, partial_o, partial_lse, sm_scale, logit_cap
    )
    if part == "private":
        assert menu.lean is not None
        tiles = private_part_tiles(menu, int(constexprs["GROUP"]))
        launch = dict(
            NUM_TILES=1,
            num_warps=menu.lean.num_warps,
            num_stages=menu.lean.num_stages,
            maxnreg=menu.lean.max_registers,
        )
    else:
        tiles = menu.kernel_tiles
        launch = dict(
            NUM_TILES=len(menu.tiles), num_warps=menu.num_warps, num_stages=menu.num_stages
        )
    if new_kv is None:  # unread: the kernel is built without the store
        new_args, new_strides, new_kv_members = (k_buffer, v_buffer, kv_indices), (0,) * 4, 0
    else:
        k_new, v_new, new_loc = new_kv
        new_args = (k_new, v_new, new_loc)
        new_strides = (k_new.stride(0), k_new.stride(1), v_new.stride(0), v_new.stride(1))
        # a member vector as wide as a packed-tails unit's members
        new_kv_members = triton.next_power_of_2(max(1, tiles["MT"] // int(constexprs["GROUP"])))
    compiled = _pack_decode_kernel[(num_programs,)](
        *(q, k_buffer, v_buffer, o, kv_indices, items, members, header, queue),
        *(partial_o, partial_lse, *new_args),
        *strides,
        *new_strides,
        *scalars,
        **constexprs,
        **tiles,
        PART=PARTS[part],
        PDL=pdl,
        NEW_KV_MEMBERS=new_kv_members,
        **launch,
    )
    if part != "all" and q.is_cuda:
        prefer_max_shared_carveout(compiled)
    return compiled


def merge_block_heads(num_heads: int, slots_at_once: bool = False) -> int:
    """Heads one program of ``merge_states`` merges."""
    heads = MERGE_SLOT_HEADS if slots_at_once else MERGE_HEADS
    return min(heads, triton.next_power_of_2(num_heads))


def merge_grid(batch: int, num_heads: int, slots_at_once: bool = False) -> tuple[int, int]:
    """``merge_states``' grid: (requests, head blocks)."""
    return batch, triton.cdiv(num_heads, merge_block_heads(num_heads, slots_at_once))


def merge_states(
    o: torch.Tensor,
    partial_o: torch.Tensor,
    partial_lse: torch.Tensor,
    req_partial_indptr: torch.Tensor,
    check: bool = True,
    pdl: bool = False,
    slots_at_once: bool = False,
) -> None:
    """Merge each request's partial slots into ``o [B, Hq, Dv]``; grid ``(B, Hq / 8)``.
    ``pdl``: launch as the programmatic dependent of the ``pack_decode(..., pdl=True)`` just
    before it on the stream; the merge waits for it on the device. ``slots_at_once``: the
    one-request build (``_merge_states_kernel``'s ``SLOTS_AT_ONCE``), grid ``(B, Hq / 2)``,
    each program loading 16 slots at once."""
    if check:
        check_arg(not pdl or pdl_supported(o.device), "pdl", "needs a CUDA device of capability 9+")
        check_int32(req_partial_indptr, "req_partial_indptr", o.device)
        check_arg(
            req_partial_indptr.shape[0] >= o.shape[0] + 1,
            "req_partial_indptr",
            f"needs {o.shape[0] + 1} entries, has {req_partial_indptr.shape[0]}",
        )
        check_arg(
            partial_o.shape[1:] == o.shape[1:], "partial_o", "must be [slots, q_heads, v_dim]"
        )
    if o.shape[0] == 0:
        return
    block_h = merge_block_heads(o.shape[1], slots_at_once)
    _merge_states_kernel[merge_grid(o.shape[0], o.shape[1], slots_at_once)](
        o,
        partial_o,
        partial_lse,
        req_partial_indptr,
        o.stride(0),
        o.stride(1),
        partial_o.stride(0),
        partial_o.stride(1),
        partial_lse.stride(0),
        NUM_HEADS=o.shape[1],
        BLOCK_H=block_h,
        V_DIM=o.shape[2],
        BLOCK_DV=triton.next_power_of_2(o.shape[2]),
        PIPELINE_FROM=MERGE_PIPELINE_FROM,
        PDL=pdl,
        SLOTS_AT_ONCE=MERGE_SLOTS if slots_at_once else 0,
        launch_pdl=pdl,
    )
