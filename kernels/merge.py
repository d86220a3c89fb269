"""Triton kernel that merges each request's partial states (the pack kernels' fp32 partial O
and natural-log LSE) into its output."""

import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_wait


@triton.jit
def _merge_step(
    m,
    denom,
    acc,
    partial_o_ptr,
    partial_lse_ptr,
    slot,
    heads,
    mask_h,
    mask,
    offs_dv,
    stride_po_slot,
    stride_po_head,
    stride_pl_slot,
):
    """Fold one slot's (O, LSE) into the running (max, Σ weights, Σ weight·O)."""
    lse = tl.load(partial_lse_ptr + slot * stride_pl_slot + heads, mask=mask_h, other=0.0)
    part = tl.load(
        partial_o_ptr + slot * stride_po_slot + heads[:, None] * stride_po_head + offs_dv[None, :],
        mask=mask,
        other=0.0,
    )
    m_new = tl.maximum(m, lse)
    scale = tl.exp(m - m_new)
    weight = tl.exp(lse - m_new)
    return m_new, denom * scale + weight, acc * scale[:, None] + weight[:, None] * part


@triton.jit
def _merge_slots_step(
    m,
    denom,
    acc,
    partial_o_ptr,
    partial_lse_ptr,
    start,
    last,
    offs_s,
    heads,
    mask_h,
    mask,
    offs_dv,
    stride_po_slot,
    stride_po_head,
    stride_pl_slot,
):
    """Fold the slots ``start + offs_s`` below ``last``, loaded at once, into the running
    (max, Σ weights, Σ weight·O); ``_merge_step`` for a group of slots."""
    slots = start + offs_s
    mask_s = slots < last
    lse = tl.load(
        partial_lse_ptr + slots[:, None] * stride_pl_slot + heads[None, :],
        mask=mask_s[:, None] & mask_h[None, :],
        other=0.0,
    )
    lse = tl.where(mask_s[:, None], lse, float("-inf"))  # [slots, heads]; a group holds one
    part = tl.load(
        partial_o_ptr
        + slots[:, None, None] * stride_po_slot
        + heads[None, :, None] * stride_po_head
        + offs_dv[None, None, :],
        mask=mask_s[:, None, None] & mask[None, :, :],
        other=0.0,
    )
    m_new = tl.maximum(m, tl.max(lse, 0))
    scale = tl.exp(m - m_new)
    weight = tl.exp(lse - m_new[None, :])
    denom = denom * scale + tl.sum(weight, 0)
    return m_new, denom, acc * scale[:, None] + tl.sum(weight[:, :, None] * part, 0)


@triton.jit
def _merge_states_kernel(
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
    PIPELINE_FROM: tl.constexpr,
    PDL: tl.constexpr = False,
    SLOTS_AT_ONCE: tl.constexpr = 0,
):
    """o[b, h] = Σ_i exp(lse_i − LSE)·O_i with LSE = log Σ_i exp(lse_i) over b's slots.

    One program merges BLOCK_H heads of one request. Requests with fewer than two slots were
    written by the pack kernel (or are CUDA-graph padding).

    ``SLOTS_AT_ONCE`` > 0 loads that many slots at a time (the build for a batch of one
    request): one request has few merge programs, and their chain of one load per slot was
    the merge's time (3 µs for 13 slots, session 32). With more requests the wide masked
    loads cost more than the chain saves (16.7 µs on a batch of 128; +0.4 to +5.2 µs on 2-15
    requests, session 33: benchmarks/experiments/merge_slots/README.md).

    ``PDL``: launched as the pack kernel's programmatic dependent, so possibly while it runs.
    The slot ranges were uploaded before the pack kernel started; the partials are read only
    after ``gdc_wait``. Every program waits, one with nothing to merge too: this grid then
    never completes before the pack kernel, whose direct outputs the next kernel reads.
    """
    batch = tl.program_id(0)
    first = tl.load(req_partial_indptr_ptr + batch).to(tl.int64)
    last = tl.load(req_partial_indptr_ptr + batch + 1).to(tl.int64)
    if PDL:
        gdc_wait()
    if last - first < 2:
        return
    heads = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_h = heads < NUM_HEADS
    mask = mask_h[:, None] & (offs_dv < V_DIM)[None, :]
    m = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    denom = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, BLOCK_DV], dtype=tl.float32)
    if SLOTS_AT_ONCE > 0:
        offs_s = tl.arange(0, SLOTS_AT_ONCE)
        for start in range(first, last, SLOTS_AT_ONCE):
            m, denom, acc = _merge_slots_step(
                m, denom, acc, partial_o_ptr, partial_lse_ptr, start, last, offs_s, heads,
                mask_h, mask, offs_dv, stride_po_slot, stride_po_head, stride_pl_slot,
            )  # fmt: skip
    # Long ranges pipeline their loads; short ones (most shared plans: 2-5 slots) lose more
    # to the pipeline's prologue than they gain (benchmarks/experiments/latency/results/
    # merge-kernel-pipelined.txt).
    elif last - first > PIPELINE_FROM:
        for slot in tl.range(first, last, num_stages=3):
            m, denom, acc = _merge_step(
                m, denom, acc, partial_o_ptr, partial_lse_ptr, slot, heads, mask_h, mask,
                offs_dv, stride_po_slot, stride_po_head, stride_pl_slot,
            )  # fmt: skip
    else:
        for slot in range(first, last):
            m, denom, acc = _merge_step(
                m, denom, acc, partial_o_ptr, partial_lse_ptr, slot, heads, mask_h, mask,
                offs_dv, stride_po_slot, stride_po_head, stride_pl_slot,
            )  # fmt: skip
    tl.store(
        o_ptr + batch.to(tl.int64) * stride_ob + heads[:, None] * stride_oh + offs_dv[None, :],
        (acc / denom[:, None]).to(o_ptr.dtype.element_ty),
        mask=mask,
    )
