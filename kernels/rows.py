"""Triton helpers of the pack kernels: K/V row addresses of KV slots, a row tile's requests and
Q, and the stores of its output or partials (``sglang_pat/plan.py`` describes the members)."""

import triton
import triton.language as tl


@triton.jit
def _slot_rows(
    loc,
    stride_k_page,
    stride_k_tok,
    stride_v_page,
    stride_v_tok,
    PAGE_SIZE: tl.constexpr,
    SAME_KV_LAYOUT: tl.constexpr,
    OFFSET_64: tl.constexpr,
):
    """Element offsets of the K and V rows of KV slots ``loc`` (one set when the layouts match).

    int32 unless a buffer holds 2³¹ elements or more: 64-bit address math costs about a third
    of the loop's instructions, and the loop is bound by instruction latency, not bytes.
    """
    if OFFSET_64:
        loc = loc.to(tl.int64)
    if PAGE_SIZE == 1:
        k_row = loc * stride_k_tok
    else:
        k_row = (loc // PAGE_SIZE) * stride_k_page + (loc % PAGE_SIZE) * stride_k_tok
    if SAME_KV_LAYOUT:
        v_row = k_row
    elif PAGE_SIZE == 1:
        v_row = loc * stride_v_tok
    else:
        v_row = (loc // PAGE_SIZE) * stride_v_page + (loc % PAGE_SIZE) * stride_v_tok
    return k_row, v_row


@triton.jit
def _tile_rows(
    q_ptr,
    k_ptr,
    members_ptr,
    member_start,
    num_members,
    kv_head,
    stride_qb,
    stride_qh,
    GROUP: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_M: tl.constexpr,
    OFFSET_64: tl.constexpr,
):
    """A row tile's rows (its requests × the GQA group of one KV head): each row's member,
    validity, batch index, partial slot base and q head, and Q in the KV dtype."""
    rows = tl.arange(0, BLOCK_M)
    row_member = rows // GROUP
    row_valid = row_member < num_members
    member = member_start + row_member
    batch = tl.load(members_ptr + member * 4, mask=row_valid, other=0)
    if OFFSET_64:
        batch = batch.to(tl.int64)
    slot_base = tl.load(members_ptr + member * 4 + 1, mask=row_valid, other=-1)
    q_head = kv_head * GROUP + rows % GROUP
    offs_d = tl.arange(0, BLOCK_D)
    q = tl.load(
        q_ptr + batch[:, None] * stride_qb + q_head[:, None] * stride_qh + offs_d[None, :],
        mask=row_valid[:, None] & (offs_d < HEAD_DIM)[None, :],
        other=0.0,
    ).to(k_ptr.dtype.element_ty)
    return row_member, row_valid, batch, slot_base, q_head, q


@triton.jit
def _exp2_scale(sm_scale, HAS_LOGIT_CAP: tl.constexpr):
    """The factor inside exp2: sm_scale·log2 e, or 1 when the logit cap already scaled."""
    if HAS_LOGIT_CAP:
        return 1.0
    else:
        return sm_scale * 1.4426950408889634


@triton.jit
def _store_rows(
    o_ptr,
    partial_o_ptr,
    partial_lse_ptr,
    acc,
    m_i,
    l_i,
    exp2_scale,
    row_valid,
    batch,
    slot_base,
    q_head,
    chunk,
    stride_ob,
    stride_oh,
    stride_po_slot,
    stride_po_head,
    stride_pl_slot,
    V_DIM: tl.constexpr,
    BLOCK_DV: tl.constexpr,
):
    """Rows of a request with a single partial (slot_base < 0) write the output; the others
    write fp32 O and its natural-log LSE to slot ``slot_base + chunk``."""
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_dv = offs_dv < V_DIM
    out = acc / l_i[:, None]
    tl.store(
        o_ptr + batch[:, None] * stride_ob + q_head[:, None] * stride_oh + offs_dv[None, :],
        out.to(o_ptr.dtype.element_ty),
        mask=(row_valid & (slot_base < 0))[:, None] & mask_dv[None, :],
    )
    slot = (slot_base + chunk).to(tl.int64)
    is_partial = row_valid & (slot_base >= 0)
    tl.store(
        partial_o_ptr
        + slot[:, None] * stride_po_slot
        + q_head[:, None] * stride_po_head
        + offs_dv[None, :],
        out,
        mask=is_partial[:, None] & mask_dv[None, :],
    )
    lse = (m_i * exp2_scale + tl.log2(l_i)) * 0.6931471805599453
    tl.store(partial_lse_ptr + slot * stride_pl_slot + q_head, lse, mask=is_partial)
