"""Variants of ``merge_states`` for ``run.py``: heads a program, and slots loaded at once.

The product's merge (``kernels/merge.py``, ``_merge_states_kernel``) walks a request's
slots one loop step at a time, 8 heads a program. With 2-5 slots a request (the shared
plans) each step's loads wait on the last step's math, and the kernel ran at about 1.45 TB/s
in session 45's in-server profile of gsp 4 x 32 (4.36 us for 6.3 MB a layer). Here a program
merges ``BLOCK_H`` heads and loads ``UNROLL`` slots' LSE and O rows before it folds them in,
as independent 2-D loads (the 3-D tiles of session 7's ``SLOTS_AT_ONCE`` lost to their
reductions over the slot axis).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from sglang_pat.kernels import launch


@triton.jit
def _slot(partial_o_ptr, partial_lse_ptr, slot, last, heads, mask_h, mask, offs_dv,
          stride_po_slot, stride_po_head, stride_pl_slot):  # fmt: skip
    """One slot's LSE (-inf past ``last``) and O rows, masked."""
    valid = slot < last
    lse = tl.load(partial_lse_ptr + slot * stride_pl_slot + heads, mask=mask_h & valid, other=0.0)
    part = tl.load(
        partial_o_ptr + slot * stride_po_slot + heads[:, None] * stride_po_head + offs_dv[None, :],
        mask=mask & valid,
        other=0.0,
    )
    return tl.where(valid, lse, float("-inf")), part.to(tl.float32)


@triton.jit
def _merge_unrolled_kernel(
    o_ptr,
    partial_o_ptr,
    partial_lse_ptr,
    req_partial_indptr_ptr,
    stride_ob,
    stride_oh,
    stride_po_slot,
    stride_po_head,
    stride_pl_slot,
    NUM_HEADS: tl.constexpr,
    BLOCK_H: tl.constexpr,
    V_DIM: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    UNROLL: tl.constexpr,
):
    batch = tl.program_id(0)
    first = tl.load(req_partial_indptr_ptr + batch).to(tl.int64)
    last = tl.load(req_partial_indptr_ptr + batch + 1).to(tl.int64)
    if last - first < 2:
        return
    heads = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_h = heads < NUM_HEADS
    mask = mask_h[:, None] & (offs_dv < V_DIM)[None, :]
    m = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    denom = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, BLOCK_DV], dtype=tl.float32)
    for start in range(first, last, UNROLL):
        # Every load of the step is issued before any of its math (a static branch each).
        if UNROLL == 4:
            l0, p0 = _slot(partial_o_ptr, partial_lse_ptr, start, last, heads, mask_h, mask,
                           offs_dv, stride_po_slot, stride_po_head, stride_pl_slot)  # fmt: skip
            l1, p1 = _slot(partial_o_ptr, partial_lse_ptr, start + 1, last, heads, mask_h, mask,
                           offs_dv, stride_po_slot, stride_po_head, stride_pl_slot)  # fmt: skip
            l2, p2 = _slot(partial_o_ptr, partial_lse_ptr, start + 2, last, heads, mask_h, mask,
                           offs_dv, stride_po_slot, stride_po_head, stride_pl_slot)  # fmt: skip
            l3, p3 = _slot(partial_o_ptr, partial_lse_ptr, start + 3, last, heads, mask_h, mask,
                           offs_dv, stride_po_slot, stride_po_head, stride_pl_slot)  # fmt: skip
            m_new = tl.maximum(tl.maximum(m, l0), tl.maximum(tl.maximum(l1, l2), l3))
            scale = tl.exp(m - m_new)
            w0, w1 = tl.exp(l0 - m_new), tl.exp(l1 - m_new)
            w2, w3 = tl.exp(l2 - m_new), tl.exp(l3 - m_new)
            denom = denom * scale + (w0 + w1) + (w2 + w3)
            acc = acc * scale[:, None] + (w0[:, None] * p0 + w1[:, None] * p1)
            acc += w2[:, None] * p2 + w3[:, None] * p3
        else:  # UNROLL == 2
            l0, p0 = _slot(partial_o_ptr, partial_lse_ptr, start, last, heads, mask_h, mask,
                           offs_dv, stride_po_slot, stride_po_head, stride_pl_slot)  # fmt: skip
            l1, p1 = _slot(partial_o_ptr, partial_lse_ptr, start + 1, last, heads, mask_h, mask,
                           offs_dv, stride_po_slot, stride_po_head, stride_pl_slot)  # fmt: skip
            m_new = tl.maximum(tl.maximum(m, l0), l1)
            scale = tl.exp(m - m_new)
            w0, w1 = tl.exp(l0 - m_new), tl.exp(l1 - m_new)
            denom = denom * scale + (w0 + w1)
            acc = acc * scale[:, None] + (w0[:, None] * p0 + w1[:, None] * p1)
        m = m_new
    tl.store(
        o_ptr + batch.to(tl.int64) * stride_ob + heads[:, None] * stride_oh + offs_dv[None, :],
        (acc / denom[:, None]).to(o_ptr.dtype.element_ty),
        mask=mask,
    )


def merge_variant(block_h: int, unroll: int):
    """A function with ``merge_states``' signature that merges ``block_h`` heads a program and
    loads ``unroll`` slots at once. ``unroll`` 1 is the product's kernel with that head block;
    the PDL and one-request builds (small batches) are left to the product's merge."""
    if unroll not in (1, 2, 4):
        raise ValueError(f"unroll must be 1, 2 or 4, got {unroll}")

    def merge(o: torch.Tensor, partial_o: torch.Tensor, partial_lse: torch.Tensor,
              req_partial_indptr: torch.Tensor, check: bool = True, pdl: bool = False,
              slots_at_once: bool = False) -> None:  # fmt: skip
        if pdl or slots_at_once or o.shape[0] == 0 or unroll == 1:
            heads = launch.MERGE_HEADS  # read by the launcher's grid and BLOCK_H
            launch.MERGE_HEADS = block_h if unroll == 1 else heads
            try:
                launch.merge_states(o, partial_o, partial_lse, req_partial_indptr, check=check,
                                    pdl=pdl, slots_at_once=slots_at_once)  # fmt: skip
            finally:
                launch.MERGE_HEADS = heads
            return
        heads = min(block_h, triton.next_power_of_2(o.shape[1]))
        _merge_unrolled_kernel[(o.shape[0], triton.cdiv(o.shape[1], heads))](
            o, partial_o, partial_lse, req_partial_indptr,
            o.stride(0), o.stride(1), partial_o.stride(0), partial_o.stride(1),
            partial_lse.stride(0),
            NUM_HEADS=o.shape[1], BLOCK_H=heads, V_DIM=o.shape[2],
            BLOCK_DV=triton.next_power_of_2(o.shape[2]), UNROLL=unroll,
        )  # fmt: skip

    return merge
