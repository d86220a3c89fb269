"""Triton helpers of the pack kernels: one KV block's online-softmax update, one item's KV chunk
for a row tile, and several requests' short private tails in one tile."""

import triton
import triton.language as tl

from .rows import _exp2_scale, _slot_rows, _store_rows, _tile_rows


@triton.jit
def _attend_block(
    q,
    m_i,
    l_i,
    acc,
    k_ptr,
    v_ptr,
    kv_indices_ptr,
    kv_start,
    start_n,
    kv_len,
    kv_head,
    stride_k_page,
    stride_k_tok,
    stride_kh,
    stride_v_page,
    stride_v_tok,
    stride_vh,
    exp2_scale,
    sm_scale,
    logit_cap,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    V_DIM: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PAGE_SIZE: tl.constexpr,
    HAS_LOGIT_CAP: tl.constexpr,
    SAME_KV_LAYOUT: tl.constexpr,
    OFFSET_64: tl.constexpr,
    MASKED: tl.constexpr,
    block_loc=None,
):
    """One KV block of an item: online-softmax update of (m_i, l_i, acc).

    Scores stay unscaled until one FFMA inside exp2 (``exp2_scale`` is sm_scale·log2 e, or 1
    when the logit cap already scaled them). Only the item's last block (MASKED) pays for key
    masks and loads its own slots; full blocks get theirs (``block_loc``) from the caller,
    which loaded them one block ahead. K is loaded [keys, dims] like V, so both share one slot
    offset per row.
    """
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_d = offs_d < HEAD_DIM
    mask_dv = offs_dv < V_DIM
    if MASKED:
        mask_n = offs_n < kv_len
        loc = tl.load(kv_indices_ptr + kv_start + offs_n, mask=mask_n, other=0)
        k_mask = mask_n[:, None] & mask_d[None, :]
        v_mask = mask_n[:, None] & mask_dv[None, :]
    else:
        loc = block_loc
        k_mask = mask_d[None, :]
        v_mask = mask_dv[None, :]
    k_row, v_row = _slot_rows(
        loc, stride_k_page, stride_k_tok, stride_v_page, stride_v_tok, PAGE_SIZE, SAME_KV_LAYOUT,
        OFFSET_64,
    )  # fmt: skip
    k = tl.load(
        k_ptr + k_row[:, None] + kv_head * stride_kh + offs_d[None, :], mask=k_mask, other=0.0
    )
    qk = tl.dot(q, tl.trans(k))
    if HAS_LOGIT_CAP:
        # cap·tanh(s/cap) as SGLang's triton decode, tanh(x) = 2σ(2x) − 1; then to base 2.
        capped = qk * sm_scale / logit_cap
        qk = logit_cap * (2.0 / (1.0 + tl.exp(-2.0 * capped)) - 1.0) * 1.4426950408889634
    if MASKED:
        qk = tl.where(mask_n[None, :], qk, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(qk, 1))
    alpha = tl.exp2((m_i - m_new) * exp2_scale)
    p = tl.exp2(qk * exp2_scale - (m_new * exp2_scale)[:, None])
    l_i = l_i * alpha + tl.sum(p, 1)
    v = tl.load(
        v_ptr + v_row[:, None] + kv_head * stride_vh + offs_dv[None, :], mask=v_mask, other=0.0
    )
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    return m_new, l_i, acc


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
    SAME_KV_LAYOUT: tl.constexpr,
    OFFSET_64: tl.constexpr,
    STAGES: tl.constexpr,
):
    """One KV chunk for one row tile (the tile's requests × the GQA group of one KV head).

    Each KV block is loaded once for all rows (Q·Kᵀ and P·V are small GEMMs on tensor cores),
    online softmax in base 2. Rows of a request with a single partial (slot_base < 0) write the
    output; the others write fp32 O and its natural-log LSE to slot ``slot_base + chunk``.
    """
    _, row_valid, batch, slot_base, q_head, q = _tile_rows(
        q_ptr, k_ptr, members_ptr, member_start, num_members, kv_head, stride_qb, stride_qh,
        GROUP, HEAD_DIM, BLOCK_D, BLOCK_M, OFFSET_64,
    )  # fmt: skip
    exp2_scale = _exp2_scale(sm_scale, HAS_LOGIT_CAP)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], dtype=tl.float32)
    full_end = kv_len - kv_len % BLOCK_N
    # The slots of block i + 1 are loaded into registers during block i. Left to the
    # pipeliner, a load that feeds the K/V addresses counts as one more level of indirection:
    # Triton 3.6 then halves the K/V prefetch distance and issues each block's K/V copies
    # after the previous block's math, so nothing overlaps.
    offs_n = tl.arange(0, BLOCK_N)
    next_loc = tl.load(kv_indices_ptr + kv_start + offs_n, mask=offs_n < full_end, other=0)
    for start_n in tl.range(0, full_end, BLOCK_N, num_stages=STAGES):
        block_loc = next_loc
        ahead = start_n + BLOCK_N + offs_n
        next_loc = tl.load(kv_indices_ptr + kv_start + ahead, mask=ahead < full_end, other=0)
        m_i, l_i, acc = _attend_block(
            q, m_i, l_i, acc, k_ptr, v_ptr, kv_indices_ptr, kv_start, start_n, kv_len, kv_head,
            stride_k_page, stride_k_tok, stride_kh, stride_v_page, stride_v_tok, stride_vh,
            exp2_scale, sm_scale, logit_cap, HEAD_DIM, BLOCK_D, V_DIM, BLOCK_DV, BLOCK_N,
            PAGE_SIZE, HAS_LOGIT_CAP, SAME_KV_LAYOUT, OFFSET_64, False, block_loc,
        )  # fmt: skip
    if full_end < kv_len:
        m_i, l_i, acc = _attend_block(
            q, m_i, l_i, acc, k_ptr, v_ptr, kv_indices_ptr, kv_start, full_end, kv_len, kv_head,
            stride_k_page, stride_k_tok, stride_kh, stride_v_page, stride_v_tok, stride_vh,
            exp2_scale, sm_scale, logit_cap, HEAD_DIM, BLOCK_D, V_DIM, BLOCK_DV, BLOCK_N,
            PAGE_SIZE, HAS_LOGIT_CAP, SAME_KV_LAYOUT, OFFSET_64, True,
        )  # fmt: skip

    _store_rows(
        o_ptr, partial_o_ptr, partial_lse_ptr, acc, m_i, l_i, exp2_scale, row_valid, batch,
        slot_base, q_head, chunk, stride_ob, stride_oh, stride_po_slot, stride_po_head,
        stride_pl_slot, V_DIM, BLOCK_DV,
    )  # fmt: skip


@triton.jit
def _attend_tails(
    q_ptr,
    k_ptr,
    v_ptr,
    o_ptr,
    kv_indices_ptr,
    members_ptr,
    partial_o_ptr,
    partial_lse_ptr,
    max_len,
    member_start,
    num_members,
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
    SAME_KV_LAYOUT: tl.constexpr,
    OFFSET_64: tl.constexpr,
    STAGES: tl.constexpr,
):
    """Short private tails of up to BLOCK_M / G requests in one tile.

    Each KV block holds BLOCK_N / members keys of every request; a block-diagonal mask lets
    request j's G rows see only j's keys. One unit then reads several tails with one chain of
    dependent loads instead of one chain per tail (the latency that dominates short tails).
    Members hold (batch, slot_base, kv_start, kv_len); the output goes to slot_base + 0.
    """
    MEMBERS: tl.constexpr = BLOCK_M // GROUP
    SUB: tl.constexpr = BLOCK_N // MEMBERS
    row_member, row_valid, batch, slot_base, q_head, q = _tile_rows(
        q_ptr, k_ptr, members_ptr, member_start, num_members, kv_head, stride_qb, stride_qh,
        GROUP, HEAD_DIM, BLOCK_D, BLOCK_M, OFFSET_64,
    )  # fmt: skip
    keys = tl.arange(0, BLOCK_N)
    key_member = keys // SUB
    key_offset = keys % SUB
    key_owner = member_start + key_member
    key_has = key_member < num_members
    key_start = tl.load(members_ptr + key_owner * 4 + 2, mask=key_has, other=0)
    key_len = tl.load(members_ptr + key_owner * 4 + 3, mask=key_has, other=0)
    same = row_member[:, None] == key_member[None, :]
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_d = offs_d < HEAD_DIM
    mask_dv = offs_dv < V_DIM

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], dtype=tl.float32)
    exp2_scale = _exp2_scale(sm_scale, HAS_LOGIT_CAP)
    # The block update below repeats _attend_block's with a 2-D mask. One helper for both
    # measured 1-3.5% slower on the H200 (more spills; see benchmarks/experiments/latency/
    # results/sweep-shared-update-helper.txt), so the two stay separate.
    # slots one block ahead, in registers (see _attend_item)
    next_loc = tl.load(kv_indices_ptr + key_start + key_offset, mask=key_offset < key_len, other=0)
    for start in tl.range(0, max_len, SUB, num_stages=STAGES):
        offset = start + key_offset
        valid = offset < key_len
        loc = next_loc
        ahead = offset + SUB
        next_loc = tl.load(kv_indices_ptr + key_start + ahead, mask=ahead < key_len, other=0)
        k_row, v_row = _slot_rows(
            loc, stride_k_page, stride_k_tok, stride_v_page, stride_v_tok, PAGE_SIZE,
            SAME_KV_LAYOUT, OFFSET_64,
        )  # fmt: skip
        k = tl.load(
            k_ptr + k_row[:, None] + kv_head * stride_kh + offs_d[None, :],
            mask=valid[:, None] & mask_d[None, :],
            other=0.0,
        )
        qk = tl.dot(q, tl.trans(k))
        if HAS_LOGIT_CAP:
            capped = qk * sm_scale / logit_cap
            qk = logit_cap * (2.0 / (1.0 + tl.exp(-2.0 * capped)) - 1.0) * 1.4426950408889634
        qk = tl.where(same & valid[None, :], qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)  # a row with no key yet
        alpha = tl.exp2((m_i - m_use) * exp2_scale)
        p = tl.exp2(qk * exp2_scale - (m_use * exp2_scale)[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(
            v_ptr + v_row[:, None] + kv_head * stride_vh + offs_dv[None, :],
            mask=valid[:, None] & mask_dv[None, :],
            other=0.0,
        )
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new

    _store_rows(
        o_ptr, partial_o_ptr, partial_lse_ptr, acc, m_i, l_i, exp2_scale, row_valid, batch,
        slot_base, q_head, 0, stride_ob, stride_oh, stride_po_slot, stride_po_head,
        stride_pl_slot, V_DIM, BLOCK_DV,
    )  # fmt: skip
