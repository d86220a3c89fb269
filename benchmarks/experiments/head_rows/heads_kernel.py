"""The private tails with several KV heads a unit, each token's heads read as one row.

A unit is (tail, group of HPU consecutive KV heads). Its K/V block is ``[BLOCK_N, HPU·D]``:
HPU·D·2 contiguous bytes of each token's row (the pack kernel's private units read D·2 = 256 B
of each 2 KB row, one KV head each). The rows are the HPU heads × the GQA group; row r's Q
holds its head's D values in its head's columns and zeros elsewhere, so one ``tl.dot`` over
all HPU·D columns gives every row its own head's scores (the zeros cost MMA, not bytes, as
the pack kernel's 16-row padding of G = 4 rows does). P·V yields ``[rows, HPU·D]``, of which
each row keeps its own head's D columns.

Flat slots only (``[slots, kv_heads, D]``, page size 1, heads contiguous in a row), as the
benchmarks' pool; an experiment, not the product.
"""

import triton
import triton.language as tl


@triton.jit
def _heads_block(
    q, m_i, l_i, acc, k_ptr, v_ptr, loc, valid, columns, stride_k_tok, stride_v_tok, exp2_scale,
    MASKED: tl.constexpr,
):  # fmt: skip
    """One KV block's online-softmax update; only the last block masks its keys.

    The update repeats ``_attend_block``'s in ``kernels/attend.py``: its loads take a
    head's slot rows and this one a row of H heads, and the product keeps even its own two
    updates apart, since one shared helper spilled more (see ``_attend_tails``)."""
    k_ptrs = k_ptr + loc[:, None] * stride_k_tok + columns[None, :]
    v_ptrs = v_ptr + loc[:, None] * stride_v_tok + columns[None, :]
    if MASKED:
        k = tl.load(k_ptrs, mask=valid[:, None], other=0.0)
    else:
        k = tl.load(k_ptrs)
    qk = tl.dot(q, tl.trans(k))
    if MASKED:
        qk = tl.where(valid[None, :], qk, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(qk, 1))
    alpha = tl.exp2((m_i - m_new) * exp2_scale)
    p = tl.exp2(qk * exp2_scale - (m_new * exp2_scale)[:, None])
    l_i = l_i * alpha + tl.sum(p, 1)
    if MASKED:
        v = tl.load(v_ptrs, mask=valid[:, None], other=0.0)
    else:
        v = tl.load(v_ptrs)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    return m_new, l_i, acc


@triton.jit
def heads_private_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, kv_indices_ptr, tails_ptr, partial_o_ptr, partial_lse_ptr,
    num_tails, stride_qb, stride_qh, stride_k_tok, stride_v_tok, stride_ob, stride_oh,
    stride_po_slot, stride_po_head, stride_pl_slot, sm_scale,
    NUM_KV_HEADS: tl.constexpr, GROUP: tl.constexpr, D: tl.constexpr, HPU: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, STAGES: tl.constexpr,
):  # fmt: skip
    """``tails [T, 4]``: (batch, slot, kv_start, kv_len); slot < 0 writes the output."""
    WIDTH: tl.constexpr = HPU * D
    HEAD_GROUPS: tl.constexpr = NUM_KV_HEADS // HPU
    rows = tl.arange(0, BLOCK_M)
    cols = tl.arange(0, WIDTH)
    row_head = rows // GROUP
    row_valid = row_head < HPU
    col_d = cols % D
    own = (row_head[:, None] == (cols // D)[None, :]) & row_valid[:, None]
    offs_n = tl.arange(0, BLOCK_N)
    exp2_scale = sm_scale * 1.4426950408889634
    num_units = num_tails * HEAD_GROUPS
    unit = tl.program_id(0)
    while unit < num_units:
        tail = unit // HEAD_GROUPS
        head_group = unit % HEAD_GROUPS
        batch = tl.load(tails_ptr + tail * 4)
        slot = tl.load(tails_ptr + tail * 4 + 1)
        kv_start = tl.load(tails_ptr + tail * 4 + 2)
        kv_len = tl.load(tails_ptr + tail * 4 + 3)
        q_head = (head_group * HPU + row_head) * GROUP + rows % GROUP
        q = tl.load(
            q_ptr + batch * stride_qb + q_head[:, None] * stride_qh + col_d[None, :],
            mask=own,
            other=0.0,
        ).to(k_ptr.dtype.element_ty)
        m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, WIDTH], dtype=tl.float32)
        columns = head_group * WIDTH + cols  # the unit's heads, contiguous in a token's row
        full_end = kv_len - kv_len % BLOCK_N
        # slots one block ahead, in registers (as the pack kernel's _attend_item)
        next_loc = tl.load(kv_indices_ptr + kv_start + offs_n, mask=offs_n < full_end, other=0)
        for start in tl.range(0, full_end, BLOCK_N, num_stages=STAGES):
            loc = next_loc
            ahead = start + BLOCK_N + offs_n
            next_loc = tl.load(kv_indices_ptr + kv_start + ahead, mask=ahead < full_end, other=0)
            m_i, l_i, acc = _heads_block(
                q, m_i, l_i, acc, k_ptr, v_ptr, loc, offs_n < BLOCK_N, columns, stride_k_tok,
                stride_v_tok, exp2_scale, False,
            )  # fmt: skip
        if full_end < kv_len:
            valid = full_end + offs_n < kv_len
            loc = tl.load(kv_indices_ptr + kv_start + full_end + offs_n, mask=valid, other=0)
            m_i, l_i, acc = _heads_block(
                q, m_i, l_i, acc, k_ptr, v_ptr, loc, valid, columns, stride_k_tok, stride_v_tok,
                exp2_scale, True,
            )  # fmt: skip
        out = acc / l_i[:, None]
        if slot < 0:
            tl.store(
                o_ptr + batch * stride_ob + q_head[:, None] * stride_oh + col_d[None, :],
                out.to(o_ptr.dtype.element_ty),
                mask=own,
            )
        else:
            slot64 = slot.to(tl.int64)
            tl.store(
                partial_o_ptr
                + slot64 * stride_po_slot
                + q_head[:, None] * stride_po_head
                + col_d[None, :],
                out,
                mask=own,
            )
            lse = (m_i * exp2_scale + tl.log2(l_i)) * 0.6931471805599453
            tl.store(partial_lse_ptr + slot64 * stride_pl_slot + q_head, lse, mask=row_valid)
        unit += tl.num_programs(0)


def launch_heads_private(
    q, k, v, o, kv_indices, tails, partial_o, partial_lse, sm_scale, *, heads_per_unit: int,
    block_n: int, stages: int, num_programs: int, num_warps: int = 4, maxnreg: int | None = None,
):  # fmt: skip
    """Launch ``heads_private_kernel`` over ``tails``; returns Triton's compiled kernel."""
    num_kv_heads, head_dim = k.shape[1], k.shape[2]
    group = q.shape[1] // num_kv_heads
    assert num_kv_heads % heads_per_unit == 0 and k.stride(1) == head_dim
    block_m = max(16, triton.next_power_of_2(heads_per_unit * group))
    extra = {} if maxnreg is None else {"maxnreg": maxnreg}
    return heads_private_kernel[(num_programs,)](
        q, k, v, o, kv_indices, tails, partial_o, partial_lse, tails.shape[0],
        q.stride(0), q.stride(1), k.stride(0), v.stride(0), o.stride(0), o.stride(1),
        partial_o.stride(0), partial_o.stride(1), partial_lse.stride(0), sm_scale,
        NUM_KV_HEADS=num_kv_heads, GROUP=group, D=head_dim, HPU=heads_per_unit,
        BLOCK_M=block_m, BLOCK_N=block_n, STAGES=stages, num_warps=num_warps, **extra,
    )  # fmt: skip
