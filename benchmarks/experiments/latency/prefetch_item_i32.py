"""Experiment: _attend_item with the next KV block's K/V (and the block after's indices)
loaded into registers before this block's math, so their latency overlaps it."""

import triton
import triton.language as tl


@triton.jit
def _attend_item(
    q_ptr,
    k_ptr,
    v_ptr,
    o_ptr,
    kv_indices_ptr,
    members_ptr,
    partial_o_ptr,
    partial_lse_ptr,
    kv_start,
    kv_len,
    member_start,
    num_members,
    chunk,
    kv_head,
    stride_qb,
    stride_qh,
    stride_k_page,
    stride_k_tok,
    stride_kh,
    stride_v_page,
    stride_v_tok,
    stride_vh,
    stride_ob,
    stride_oh,
    stride_po_slot,
    stride_po_head,
    stride_pl_slot,
    sm_scale,
    logit_cap,
    GROUP: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    V_DIM: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PAGE_SIZE: tl.constexpr,
    HAS_LOGIT_CAP: tl.constexpr,
):
    rows = tl.arange(0, BLOCK_M)
    row_member = rows // GROUP
    row_valid = row_member < num_members
    member = member_start + row_member
    batch = tl.load(members_ptr + member * 4, mask=row_valid, other=0)
    slot_base = tl.load(members_ptr + member * 4 + 1, mask=row_valid, other=-1)
    q_head = kv_head * GROUP + rows % GROUP
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_d = offs_d < HEAD_DIM
    mask_dv = offs_dv < V_DIM
    arange_n = tl.arange(0, BLOCK_N)
    # the first block's indices and K/V, and the second block's indices, before Q
    mask_n = arange_n < kv_len
    loc = tl.load(kv_indices_ptr + kv_start + arange_n, mask=mask_n, other=0)
    if PAGE_SIZE == 1:
        k_row = loc * stride_k_tok
        v_row = loc * stride_v_tok
    else:
        k_row = (loc // PAGE_SIZE) * stride_k_page + (loc % PAGE_SIZE) * stride_k_tok
        v_row = (loc // PAGE_SIZE) * stride_v_page + (loc % PAGE_SIZE) * stride_v_tok
    k = tl.load(
        k_ptr + k_row[None, :] + kv_head * stride_kh + offs_d[:, None],
        mask=mask_n[None, :] & mask_d[:, None],
        other=0.0,
    )
    v = tl.load(
        v_ptr + v_row[:, None] + kv_head * stride_vh + offs_dv[None, :],
        mask=mask_n[:, None] & mask_dv[None, :],
        other=0.0,
    )
    mask_next = (BLOCK_N + arange_n) < kv_len
    loc_next = tl.load(kv_indices_ptr + kv_start + BLOCK_N + arange_n, mask=mask_next, other=0)
    q = tl.load(
        q_ptr + batch[:, None] * stride_qb + q_head[:, None] * stride_qh + offs_d[None, :],
        mask=row_valid[:, None] & mask_d[None, :],
        other=0.0,
    ).to(k_ptr.dtype.element_ty)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], dtype=tl.float32)
    for start_n in range(0, kv_len, BLOCK_N):
        # issue the next block's K/V and the block after's indices first
        mask_next = (start_n + BLOCK_N + arange_n) < kv_len
        if PAGE_SIZE == 1:
            k_row_n = loc_next * stride_k_tok
            v_row_n = loc_next * stride_v_tok
        else:
            k_row_n = (loc_next // PAGE_SIZE) * stride_k_page + (
                loc_next % PAGE_SIZE
            ) * stride_k_tok
            v_row_n = (loc_next // PAGE_SIZE) * stride_v_page + (
                loc_next % PAGE_SIZE
            ) * stride_v_tok
        k_n = tl.load(
            k_ptr + k_row_n[None, :] + kv_head * stride_kh + offs_d[:, None],
            mask=mask_next[None, :] & mask_d[:, None],
            other=0.0,
        )
        v_n = tl.load(
            v_ptr + v_row_n[:, None] + kv_head * stride_vh + offs_dv[None, :],
            mask=mask_next[:, None] & mask_dv[None, :],
            other=0.0,
        )
        mask_after = (start_n + 2 * BLOCK_N + arange_n) < kv_len
        loc_after = tl.load(
            kv_indices_ptr + kv_start + start_n + 2 * BLOCK_N + arange_n, mask=mask_after, other=0
        )

        qk = tl.dot(q, k)
        if HAS_LOGIT_CAP:
            capped = qk * sm_scale / logit_cap
            qk = logit_cap * (2.0 / (1.0 + tl.exp(-2.0 * capped)) - 1.0) * 1.4426950408889634
        else:
            qk = qk * (sm_scale * 1.4426950408889634)
        qk = tl.where(mask_n[None, :], qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(qk - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
        k = k_n
        v = v_n
        mask_n = mask_next
        loc_next = loc_after

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
    lse = (m_i + tl.log2(l_i)) * 0.6931471805599453
    tl.store(partial_lse_ptr + slot * stride_pl_slot + q_head, lse, mask=is_partial)
