"""Launchers of the PAT kernels: check inputs once, compute the grid, launch.

Every check raises ``ValueError`` naming the argument. Grids depend only on buffer capacities
and the tile config, never on the plan's contents, so CUDA graphs can capture the launches.
"""

from __future__ import annotations

import torch
import triton

from ..cost_model import TileMenu
from .pack_decode import _gather_kv_indices_kernel, _merge_states_kernel, _pack_decode_kernel

KV_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
HEAD_DIMS = (64, 128, 256)
GATHER_BLOCK = 1024
INT32_OFFSET_LIMIT = 2**31  # tensors with this many elements or more take 64-bit offsets
MERGE_PIPELINE_FROM = 8  # requests with more partial slots than this pipeline the merge


def _check(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{name}: {message}")


def _check_int32(tensor: torch.Tensor, name: str, device: torch.device) -> None:
    _check(tensor.dtype == torch.int32, name, f"must be int32, got {tensor.dtype}")
    _check(tensor.device == device, name, f"must be on {device}, got {tensor.device}")
    _check(tensor.is_contiguous(), name, "must be contiguous")


def kv_layout(buffer: torch.Tensor) -> tuple[int, int, int, int]:
    """(page_size, page stride, token stride, head stride) of a 3-D or 4-D KV buffer.

    ``[num_slots, kv_heads, head_dim]`` or ``[num_pages, page_size, kv_heads, head_dim]``,
    slot ``loc`` at page ``loc // page_size``, row ``loc % page_size`` (SGLang's layouts).
    """
    if buffer.dim() == 3:
        return 1, 0, buffer.stride(0), buffer.stride(1)
    return buffer.shape[1], buffer.stride(0), buffer.stride(1), buffer.stride(2)


def _check_kv_buffer(buffer: torch.Tensor, name: str) -> None:
    _check(buffer.dtype in KV_DTYPES, name, f"dtype {buffer.dtype} is not fp16/bf16/fp32")
    _check(buffer.stride(-1) == 1, name, "the head_dim axis must be contiguous")
    _check(buffer.dim() in (3, 4), name, f"must be 3-D or 4-D, got {buffer.dim()}-D")


def gather_kv_indices(
    req_to_token: torch.Tensor,
    segments: torch.Tensor,
    kv_indices: torch.Tensor,
    num_segments: int,
    max_segment_len: int,
) -> None:
    """Copy each segment's slots out of ``req_to_token [rows, max_context]`` into ``kv_indices``.

    Host-sized grid: run it outside CUDA graphs (the backend's metadata hook), so attention
    never reads ``req_to_token`` while the scheduler may rewrite it.
    """
    device = req_to_token.device
    _check_int32(req_to_token, "req_to_token", device)
    _check_int32(segments, "segments", device)
    _check_int32(kv_indices, "kv_indices", device)
    _check(req_to_token.dim() == 2, "req_to_token", "must be [rows, max_context_len]")
    _check(segments.dim() == 2 and segments.shape[1] == 4, "segments", "must be [S, 4]")
    _check(0 <= num_segments <= segments.shape[0], "num_segments", "exceeds segments capacity")
    if num_segments == 0 or max_segment_len == 0:
        return
    grid = (num_segments, triton.cdiv(max_segment_len, GATHER_BLOCK))
    _gather_kv_indices_kernel[grid](
        req_to_token, req_to_token.stride(0), segments, kv_indices, BLOCK=GATHER_BLOCK
    )


def check_pack_inputs(
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
    logit_cap: float,
) -> None:
    """Raise ValueError naming the first argument of ``pack_decode`` that does not fit."""
    device = q.device
    _check(q.dim() == 3, "q", f"must be [batch, q_heads, head_dim], got {tuple(q.shape)}")
    _check(q.stride(-1) == 1, "q", "the head_dim axis must be contiguous")
    _check_kv_buffer(k_buffer, "k_buffer")
    _check_kv_buffer(v_buffer, "v_buffer")
    _check(
        kv_layout(v_buffer)[0] == kv_layout(k_buffer)[0],
        "v_buffer",
        "page layout differs from k_buffer's",
    )
    _check(k_buffer.dtype == v_buffer.dtype, "v_buffer", "dtype differs from k_buffer's")
    for name, tensor in (("k_buffer", k_buffer), ("v_buffer", v_buffer), ("o", o)):
        _check(tensor.device == device, name, f"must be on {device}, got {tensor.device}")
    num_kv_heads, head_dim = k_buffer.shape[-2], k_buffer.shape[-1]
    v_dim = v_buffer.shape[-1]
    _check(head_dim in HEAD_DIMS, "k_buffer", f"head_dim {head_dim} not in {HEAD_DIMS}")
    _check(q.shape[2] == head_dim, "q", f"head_dim {q.shape[2]} != k_buffer's {head_dim}")
    _check(v_buffer.shape[-2] == num_kv_heads, "v_buffer", "kv_heads differ from k_buffer's")
    _check(
        q.shape[1] % num_kv_heads == 0,
        "q",
        f"{q.shape[1]} heads not a multiple of {num_kv_heads} KV heads",
    )
    group = q.shape[1] // num_kv_heads
    _check(group <= menu.tiles[-1].block_m, "menu", f"largest tile < GQA group {group}")
    expected = (q.shape[0], q.shape[1], v_dim)
    _check(tuple(o.shape) == expected, "o", f"must be {expected}, got {tuple(o.shape)}")
    _check(o.stride(-1) == 1, "o", "the head_dim axis must be contiguous")
    for name, tensor in (
        ("kv_indices", kv_indices),
        ("items", items),
        ("members", members),
        ("header", header),
        ("queue", queue),
    ):
        _check_int32(tensor, name, device)
    _check(items.dim() == 2 and items.shape[1] == 6, "items", "must be [capacity, 6]")
    _check(members.dim() == 2 and members.shape[1] == 4, "members", "must be [capacity, 4]")
    _check(queue.numel() >= 1, "queue", "needs an int32 counter")
    for name, tensor in (("partial_o", partial_o), ("partial_lse", partial_lse)):
        _check(tensor.dtype == torch.float32, name, f"must be float32, got {tensor.dtype}")
        _check(tensor.device == device, name, f"must be on {device}, got {tensor.device}")
    _check(
        partial_o.dim() == 3 and tuple(partial_o.shape[1:]) == (q.shape[1], v_dim),
        "partial_o",
        f"must be [slots, {q.shape[1]}, {v_dim}]",
    )
    _check(partial_lse.shape == partial_o.shape[:2], "partial_lse", "must be [slots, q_heads]")
    _check(
        partial_o.stride(-1) == 1 and partial_lse.stride(-1) == 1,
        "partial_o",
        "last axes must be contiguous",
    )
    _check(num_programs >= 1, "num_programs", "must be positive")
    _check(logit_cap >= 0.0, "logit_cap", "must be non-negative")


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
) -> object:
    """All items of the plan: ``q [B, Hq, D]`` against the KV buffers into ``o`` / partials.

    ``header[0]`` is the item count, ``queue`` an int32 zero (left zero after every launch),
    ``partial_o [slots, Hq, Dv]`` and ``partial_lse [slots, Hq]`` are fp32. ``check=False``
    skips the input checks (for a caller that already checked inputs of the same signature).
    Returns Triton's compiled kernel (its ``metadata`` holds shared memory and registers).
    """
    if check:
        check_pack_inputs(
            q,
            k_buffer,
            v_buffer,
            o,
            kv_indices,
            items,
            members,
            header,
            queue,
            partial_o,
            partial_lse,
            menu=menu,
            num_programs=num_programs,
            logit_cap=logit_cap,
        )
    page_size, k_page, k_tok, k_head = kv_layout(k_buffer)
    _, v_page, v_tok, v_head = kv_layout(v_buffer)
    num_kv_heads, head_dim = k_buffer.shape[-2], k_buffer.shape[-1]
    v_dim = v_buffer.shape[-1]
    group = q.shape[1] // num_kv_heads

    # int32 offsets (a third fewer loop instructions) while every indexed tensor allows them
    offset_64 = max(t.numel() for t in (q, k_buffer, v_buffer, o)) >= INT32_OFFSET_LIMIT
    return _pack_decode_kernel[(num_programs,)](
        q,
        k_buffer,
        v_buffer,
        o,
        kv_indices,
        items,
        members,
        header,
        queue,
        partial_o,
        partial_lse,
        q.stride(0),
        q.stride(1),
        k_page,
        k_tok,
        k_head,
        v_page,
        v_tok,
        v_head,
        o.stride(0),
        o.stride(1),
        partial_o.stride(0),
        partial_o.stride(1),
        partial_lse.stride(0),
        sm_scale,
        logit_cap if logit_cap > 0 else 1.0,
        NUM_KV_HEADS=num_kv_heads,
        GROUP=group,
        HEAD_DIM=head_dim,
        BLOCK_D=triton.next_power_of_2(head_dim),
        V_DIM=v_dim,
        BLOCK_DV=triton.next_power_of_2(v_dim),
        PAGE_SIZE=page_size,
        HAS_LOGIT_CAP=logit_cap > 0,
        SAME_KV_LAYOUT=k_buffer.stride() == v_buffer.stride(),
        OFFSET_64=offset_64,
        NUM_TILES=len(menu.tiles),
        **menu.kernel_tiles,
        num_warps=menu.num_warps,
        num_stages=menu.num_stages,
    )


def merge_states(
    o: torch.Tensor,
    partial_o: torch.Tensor,
    partial_lse: torch.Tensor,
    req_partial_indptr: torch.Tensor,
    check: bool = True,
) -> None:
    """Merge each request's partial slots into ``o [B, Hq, Dv]``; grid ``(B, Hq / 8)``."""
    if check:
        _check_int32(req_partial_indptr, "req_partial_indptr", o.device)
        _check(
            req_partial_indptr.shape[0] >= o.shape[0] + 1,
            "req_partial_indptr",
            f"needs {o.shape[0] + 1} entries, has {req_partial_indptr.shape[0]}",
        )
        _check(partial_o.shape[1:] == o.shape[1:], "partial_o", "must be [slots, q_heads, v_dim]")
    if o.shape[0] == 0:
        return
    block_h = min(8, triton.next_power_of_2(o.shape[1]))
    _merge_states_kernel[(o.shape[0], triton.cdiv(o.shape[1], block_h))](
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
    )
