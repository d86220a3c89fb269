"""Triton kernels of PAT decode: gather KV indices, multi-tile pack decode, merge.

Launchers and input checks live in ``launch.py``; the plan's arrays are described in
``sglang_pat/plan.py``.
"""

import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

# Which items a _pack_decode_kernel launch takes (its PART constexpr).
ALL_ITEMS = tl.constexpr(0)
SHARED_PART = tl.constexpr(1)
PRIVATE_PART = tl.constexpr(2)


@triton.jit
def _gather_kv_indices_kernel(
    req_to_token_ptr,
    stride_req_to_token,
    segments_ptr,
    kv_indices_ptr,
    BLOCK: tl.constexpr,
):
    """kv_indices[dst : dst + len] = req_to_token[row, start : start + len], one block a program."""
    segment = tl.program_id(0)
    block = tl.program_id(1)
    row = tl.load(segments_ptr + segment * 4 + 0).to(tl.int64)
    start = tl.load(segments_ptr + segment * 4 + 1)
    length = tl.load(segments_ptr + segment * 4 + 2)
    dst = tl.load(segments_ptr + segment * 4 + 3).to(tl.int64)
    offs = block * BLOCK + tl.arange(0, BLOCK)
    mask = offs < length
    slots = tl.load(req_to_token_ptr + row * stride_req_to_token + start + offs, mask=mask)
    tl.store(kv_indices_ptr + dst + offs, slots, mask=mask)


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


@triton.jit
def _store_new_kv(
    k_ptr,
    v_ptr,
    k_new_ptr,
    v_new_ptr,
    new_loc_ptr,
    kv_indices_ptr,
    members_ptr,
    kv_start,
    kv_len,
    member_start,
    num_members,
    chunk,
    kv_head,
    stride_k_page,
    stride_k_tok,
    stride_kh,
    stride_v_page,
    stride_v_tok,
    stride_vh,
    stride_knb,
    stride_knh,
    stride_vnb,
    stride_vnh,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    V_DIM: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    PAGE_SIZE: tl.constexpr,
    SAME_KV_LAYOUT: tl.constexpr,
    OFFSET_64: tl.constexpr,
    MEMBERS: tl.constexpr,
):
    """Write the layer's new K/V of one KV head into the slots of the unit's requests, before
    the unit reads them: no store kernel and no graph node before attention.

    A request's new token is the last of its private tail (``PatDecoder.plan_step`` keeps a
    plan where one is not private), so exactly one unit per KV head reads it: a packed-tails
    unit (chunk < 0) for each of its members, a one-request unit whose KV range ends on its
    request's new slot (the tail's last chunk). A unit stores only where the slot it reads last
    is the request's ``new_loc``, so a shared unit or an earlier chunk writes nothing.
    """
    if (chunk < 0) | (num_members == 1):
        offs_m = tl.arange(0, MEMBERS)
        member = member_start + offs_m
        if chunk < 0:
            valid = offs_m < num_members
            start = tl.load(members_ptr + member * 4 + 2, mask=valid, other=0)
            length = tl.load(members_ptr + member * 4 + 3, mask=valid, other=0)
        else:
            valid = offs_m == 0
            start = kv_start + offs_m * 0
            length = kv_len + offs_m * 0
        valid = valid & (length > 0)
        batch = tl.load(members_ptr + member * 4, mask=valid, other=0)
        if OFFSET_64:
            batch = batch.to(tl.int64)
        last = tl.load(kv_indices_ptr + start + length - 1, mask=valid, other=-1)
        new_loc = tl.load(new_loc_ptr + batch, mask=valid, other=-2)
        write = valid & (last.to(tl.int64) == new_loc.to(tl.int64))
        k_row, v_row = _slot_rows(
            last, stride_k_page, stride_k_tok, stride_v_page, stride_v_tok, PAGE_SIZE,
            SAME_KV_LAYOUT, OFFSET_64,
        )  # fmt: skip
        # The new K/V rows of every member are loaded beside its slot, not after the
        # comparison: one dependent load fewer before the unit's own loads may start, for a
        # row read in vain by an earlier chunk (0.6-2.4 us a layer less where the store cost
        # most, benchmarks/experiments/store_in_kernel/README.md).
        offs_d = tl.arange(0, BLOCK_D)
        mask_d = (offs_d < HEAD_DIM)[None, :]
        k = tl.load(
            k_new_ptr + batch[:, None] * stride_knb + kv_head * stride_knh + offs_d[None, :],
            mask=valid[:, None] & mask_d,
        )
        offs_dv = tl.arange(0, BLOCK_DV)
        mask_dv = (offs_dv < V_DIM)[None, :]
        v = tl.load(
            v_new_ptr + batch[:, None] * stride_vnb + kv_head * stride_vnh + offs_dv[None, :],
            mask=valid[:, None] & mask_dv,
        )
        k_at = k_ptr + k_row[:, None] + kv_head * stride_kh + offs_d[None, :]
        tl.store(k_at, k, mask=write[:, None] & mask_d)
        v_at = v_ptr + v_row[:, None] + kv_head * stride_vh + offs_dv[None, :]
        tl.store(v_at, v, mask=write[:, None] & mask_dv)
        # The unit's K/V loads come from other threads of the program: its stores first.
        tl.debug_barrier()


@triton.jit
def _item_record(items_ptr, item):
    """An item's six fields (``sglang_pat/plan.py``): kv_start, kv_len, member_start,
    num_members, chunk, tile."""
    record = items_ptr + item * 6
    return (
        tl.load(record + 0),
        tl.load(record + 1),
        tl.load(record + 2),
        tl.load(record + 3),
        tl.load(record + 4),
        tl.load(record + 5),
    )


@triton.jit
def _pack_decode_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    o_ptr,
    kv_indices_ptr,
    items_ptr,
    members_ptr,
    header_ptr,
    queue_ptr,
    partial_o_ptr,
    partial_lse_ptr,
    k_new_ptr,
    v_new_ptr,
    new_loc_ptr,
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
    stride_knb,
    stride_knh,
    stride_vnb,
    stride_vnh,
    sm_scale,
    logit_cap,
    NUM_KV_HEADS: tl.constexpr,
    GROUP: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    V_DIM: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    PAGE_SIZE: tl.constexpr,
    HAS_LOGIT_CAP: tl.constexpr,
    SAME_KV_LAYOUT: tl.constexpr,
    OFFSET_64: tl.constexpr,
    NUM_TILES: tl.constexpr,
    M0: tl.constexpr,
    N0: tl.constexpr,
    M1: tl.constexpr,
    N1: tl.constexpr,
    M2: tl.constexpr,
    N2: tl.constexpr,
    M3: tl.constexpr,
    N3: tl.constexpr,
    S0: tl.constexpr,
    S1: tl.constexpr,
    S2: tl.constexpr,
    S3: tl.constexpr,
    MT: tl.constexpr,
    NT: tl.constexpr,
    ST: tl.constexpr,
    PART: tl.constexpr,
    PDL: tl.constexpr = False,
    NEW_KV_MEMBERS: tl.constexpr = 0,
):
    """Persistent multi-tile decode: programs pull (item, KV head) units from a queue.

    Every item names its tile shape (Mi × Ni, compiled into this one kernel; packed short
    tails, chunk < 0, take MT × NT), so compute-bound shared packs and memory-bound private
    tails run side by side in one launch on a fixed grid; the unit count comes from device
    memory (CUDA-graph safe). ``queue_ptr[0]`` counts the units taken from the queue and is
    zero between launches.

    ``PART`` says which items the launch takes (``sglang_pat.cost_model.LeanKernel``):
    - ``ALL_ITEMS``: ``header_ptr[0]`` items, on every program;
    - ``SHARED_PART``: the same, on the first ``header_ptr[1]`` programs only (all, or one per
      SM while a ``PRIVATE_PART`` launch runs beside this one and needs the others' room);
    - ``PRIVATE_PART``: ``header_ptr[2]`` items from item ``header_ptr[0]`` on, compiled with
      small tiles (``M0`` × ``N0`` whatever an item's tile) for two programs per SM beside a
      shared-part program. Its units are alike and memory-bound: programs stride over them
      without the queue.

    ``PDL`` (``ALL_ITEMS`` only): the merge kernel is launched as this one's programmatic
    dependent; where ``header_ptr[1]`` is nonzero it may start at once, else as this grid
    ends, and it waits for this grid (``_merge_states_kernel``).

    ``NEW_KV_MEMBERS`` > 0: each unit first writes the layer's new K/V (``k_new [B, Hkv, D]``,
    ``v_new``) of its requests whose new slot (``new_loc [B]``) it reads (``_store_new_kv``);
    the constexpr is at least the members of a packed-tails tile. 0: they are in the buffers.
    """
    if PDL:
        # The plan says whether the merge's programs would spread over the SMs if started now
        # (sglang_pat.decoder.merge_starts_early); a program that exits without the trigger
        # counts as triggered.
        if tl.load(header_ptr + 1) != 0:
            gdc_launch_dependents()
    if PART == PRIVATE_PART:
        items_ptr += tl.load(header_ptr) * 6  # its first item
        num_units = tl.load(header_ptr + 2) * NUM_KV_HEADS
        unit = tl.program_id(0)
    else:
        num_units = tl.load(header_ptr) * NUM_KV_HEADS
        # Program p's first unit is p, the rest come from the queue: no atomic round trip
        # before the first unit's loads.
        unit = tl.program_id(0)
        if PART == SHARED_PART:
            active_programs = tl.load(header_ptr + 1)
            if unit >= active_programs:
                unit = num_units
        else:
            active_programs = tl.num_programs(0)
    while unit < num_units:
        if PART == PRIVATE_PART:
            next_unit = unit + tl.num_programs(0)
        else:
            # Issued early: its latency hides behind the unit's work. So the units past the
            # first wave are dealt in start order, not finish order (the planner's chunk cost
            # charges that: CostModel.chunk_cost). Each unit done takes one ticket, so a
            # launch hands out tickets 0 .. num_units - 1, and the holder of the last one
            # resets the counter: no exit barrier of one atomic per program on one address
            # (2-4 µs a launch: benchmarks/experiments/latency/README.md, "One ticket per
            # unit").
            ticket = tl.atomic_add(queue_ptr, 1)
            next_unit = active_programs + ticket
        item = unit // NUM_KV_HEADS
        kv_head = unit % NUM_KV_HEADS
        kv_start, kv_len, member_start, num_members, chunk, tile = _item_record(items_ptr, item)
        if PART == PRIVATE_PART:
            tile = 0  # one tile for every one-request item
        if NEW_KV_MEMBERS > 0:
            _store_new_kv(
                k_ptr, v_ptr, k_new_ptr, v_new_ptr, new_loc_ptr, kv_indices_ptr, members_ptr,
                kv_start, kv_len, member_start, num_members, chunk, kv_head, stride_k_page,
                stride_k_tok, stride_kh, stride_v_page, stride_v_tok, stride_vh, stride_knb,
                stride_knh, stride_vnb, stride_vnh, HEAD_DIM, BLOCK_D, V_DIM, BLOCK_DV, PAGE_SIZE,
                SAME_KV_LAYOUT, OFFSET_64, NEW_KV_MEMBERS,
            )  # fmt: skip
        if chunk < 0:
            _attend_tails(
                q_ptr,
                k_ptr,
                v_ptr,
                o_ptr,
                kv_indices_ptr,
                members_ptr,
                partial_o_ptr,
                partial_lse_ptr,
                kv_len,
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
                GROUP,
                HEAD_DIM,
                BLOCK_D,
                V_DIM,
                BLOCK_DV,
                MT,
                NT,
                PAGE_SIZE,
                HAS_LOGIT_CAP,
                SAME_KV_LAYOUT,
                OFFSET_64,
                ST,
            )
        elif tile == 0:
            _attend_item(
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
                GROUP,
                HEAD_DIM,
                BLOCK_D,
                V_DIM,
                BLOCK_DV,
                M0,
                N0,
                PAGE_SIZE,
                HAS_LOGIT_CAP,
                SAME_KV_LAYOUT,
                OFFSET_64,
                S0,
            )
        elif NUM_TILES > 1 and tile == 1:
            _attend_item(
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
                GROUP,
                HEAD_DIM,
                BLOCK_D,
                V_DIM,
                BLOCK_DV,
                M1,
                N1,
                PAGE_SIZE,
                HAS_LOGIT_CAP,
                SAME_KV_LAYOUT,
                OFFSET_64,
                S1,
            )
        elif NUM_TILES > 2 and tile == 2:
            _attend_item(
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
                GROUP,
                HEAD_DIM,
                BLOCK_D,
                V_DIM,
                BLOCK_DV,
                M2,
                N2,
                PAGE_SIZE,
                HAS_LOGIT_CAP,
                SAME_KV_LAYOUT,
                OFFSET_64,
                S2,
            )
        elif NUM_TILES > 3:
            _attend_item(
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
                GROUP,
                HEAD_DIM,
                BLOCK_D,
                V_DIM,
                BLOCK_DV,
                M3,
                N3,
                PAGE_SIZE,
                HAS_LOGIT_CAP,
                SAME_KV_LAYOUT,
                OFFSET_64,
                S3,
            )
        if PART != PRIVATE_PART:
            if ticket == num_units - 1:
                tl.atomic_xchg(queue_ptr, 0)
        unit = next_unit


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
