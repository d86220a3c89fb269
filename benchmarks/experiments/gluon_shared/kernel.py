"""A Gluon kernel for PAT's shared packs: FlashAttention-3's intra-warpgroup overlap on sm90.

Plain Triton 3.6 waits for every Q·Kᵀ right after issuing it and issues a block's K/V copies
after the previous block's math (``../latency/README.md``), so the shared units run at about
290 TFLOP/s. Gluon states the schedule itself. One program = one (item, KV head) unit of the
plan's 64-row tile, one warpgroup:

- K and V blocks of 64 slots are gathered by ``cp.async`` into a ring of STAGES buffers; the
  slot indices of a block are loaded into registers one block before its copies are issued;
- block j+1's Q·Kᵀ is issued (async wgmma) before block j's softmax, and block j's P·V stays
  in flight into block j+1's softmax, so the tensor cores work during the exponentials.

Outputs follow the pack kernel: fp32 O and natural-log LSE to slot ``slot_base + chunk``, or the
final output for a member with a single partial (slot_base < 0). Page size 1, bf16/fp16,
head_dim = BLOCK_D (no dim mask), no logit cap: an experiment, not the product's kernel.

Since session 47 the product has its persistent 64-row build as ``kernels/shared_part_sm90.py``
(opt-in, with packed tails and 64-bit offsets added). This file stays as the experiment ran it:
its probes (``REFILL``, ``SOFTMAX``), one-unit grids and 128-row tiles reproduce the figures in
README.md at their commits.
"""

import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy as cp
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    warpgroup_mma,
    warpgroup_mma_init,
    warpgroup_mma_wait,
)


@gluon.jit
def _issue_block(
    k_ptr, v_ptr, k_smem, v_smem, loc, valid, kv_head, stride_k_tok, stride_kh,
    stride_v_tok, stride_vh, offs_d,
):  # fmt: skip
    """Gather one block's K and V rows into a ring stage: two cp.async groups, K first."""
    k_rows = loc * stride_k_tok + kv_head * stride_kh
    cp.async_copy_global_to_shared(
        k_smem, k_ptr + k_rows[:, None] + offs_d[None, :], mask=valid[:, None]
    )
    cp.commit_group()
    v_rows = loc * stride_v_tok + kv_head * stride_vh
    cp.async_copy_global_to_shared(
        v_smem, v_ptr + v_rows[:, None] + offs_d[None, :], mask=valid[:, None]
    )
    cp.commit_group()


@gluon.jit
def _shared_pack_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, kv_indices_ptr, items_ptr, members_ptr, count_ptr,
    partial_o_ptr, partial_lse_ptr,
    stride_qb, stride_qh, stride_k_tok, stride_kh, stride_v_tok, stride_vh,
    stride_ob, stride_oh, stride_po_slot, stride_po_head, stride_pl_slot,
    sm_scale,
    NUM_KV_HEADS: gl.constexpr, GROUP: gl.constexpr, BLOCK_D: gl.constexpr,
    BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, STAGES: gl.constexpr, WARPS: gl.constexpr,
    REFILL: gl.constexpr = True,
    SOFTMAX: gl.constexpr = True,
    PERSISTENT: gl.constexpr = False,
):  # fmt: skip
    gl.static_assert(STAGES >= 3, "K of block j+1 must land while block j's V is in flight")
    dtype: gl.constexpr = k_ptr.dtype.element_ty
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[WARPS, 1], instr_shape=[16, BLOCK_N, 16]
    )
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[WARPS, 1], instr_shape=[16, BLOCK_D, 16]
    )
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    # 16 B a thread a row piece: one cp.async each
    ld_layout: gl.constexpr = gl.BlockedLayout(
        [1, 8], [32 * 8 // BLOCK_D, BLOCK_D // 8], [WARPS, 1], [1, 0]
    )
    tile_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_N, BLOCK_D], dtype)
    q_smem_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_M, BLOCK_D], dtype)

    q_smem = gl.allocate_shared_memory(dtype, [BLOCK_M, BLOCK_D], q_smem_layout)
    k_smem = gl.allocate_shared_memory(dtype, [STAGES, BLOCK_N, BLOCK_D], tile_layout)
    v_smem = gl.allocate_shared_memory(dtype, [STAGES, BLOCK_N, BLOCK_D], tile_layout)
    # (item, KV head) units: one a program on a grid of them all, or (PERSISTENT) a fixed grid
    # striding over the count in device memory, capturable whatever the plan. A loop over
    # units keeps more registers live (239 against 168 at 4 x 64 x 64, offline.py), so the
    # one-unit path stays a loop of one iteration that the compiler folds away.
    if PERSISTENT:
        first, end, step = gl.program_id(0), gl.load(count_ptr) * NUM_KV_HEADS, gl.num_programs(0)
    else:
        first, end, step = gl.program_id(0), gl.program_id(0) + 1, 1
    for unit in range(first, end, step):
        # every warp is done with the last unit's Q, K and V buffers before they are refilled
        gl.thread_barrier()
        item = unit // NUM_KV_HEADS
        kv_head = unit % NUM_KV_HEADS
        record = items_ptr + item * 6
        kv_start = gl.load(record + 0)
        kv_len = gl.load(record + 1)
        member_start = gl.load(record + 2)
        num_members = gl.load(record + 3)
        chunk = gl.load(record + 4)

        # Q rows: the item's members × the GQA group of this KV head
        rows = gl.arange(0, BLOCK_M, layout=gl.SliceLayout(1, ld_layout))
        offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(0, ld_layout))
        row_valid = rows // GROUP < num_members
        batch = gl.load(members_ptr + (member_start + rows // GROUP) * 4, mask=row_valid, other=0)
        q_head = kv_head * GROUP + rows % GROUP
        q = gl.load(
            q_ptr + (batch * stride_qb + q_head * stride_qh)[:, None] + offs_d[None, :],
            mask=row_valid[:, None],
            other=0.0,
        )
        q_smem.store(q.to(dtype))

        keys = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, ld_layout))
        num_blocks = gl.cdiv(kv_len, BLOCK_N)
        # prologue: blocks 0 .. STAGES-2 in flight, block STAGES-1's slots in registers
        loc = gl.load(kv_indices_ptr + kv_start + keys, mask=keys < kv_len, other=0)
        for b in gl.static_range(STAGES - 1):
            ahead = (b + 1) * BLOCK_N + keys
            next_loc = gl.load(kv_indices_ptr + kv_start + ahead, mask=ahead < kv_len, other=0)
            _issue_block(
                k_ptr, v_ptr, k_smem.index(b), v_smem.index(b), loc, b * BLOCK_N + keys < kv_len,
                kv_head, stride_k_tok, stride_kh, stride_v_tok, stride_vh, offs_d,
            )  # fmt: skip
            loc = next_loc

        exp2_scale = sm_scale * 1.4426950408889634
        score_keys = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
        zeros_s = gl.zeros([BLOCK_M, BLOCK_N], gl.float32, s_layout)
        m_i = gl.full([BLOCK_M], float("-inf"), gl.float32, gl.SliceLayout(1, s_layout))
        l_i = gl.zeros([BLOCK_M], gl.float32, gl.SliceLayout(1, s_layout))
        acc = warpgroup_mma_init(gl.zeros([BLOCK_M, BLOCK_D], gl.float32, o_layout))

        cp.wait_group(2 * STAGES - 3)  # K of block 0 landed
        gl.thread_barrier()
        fence_async_shared()
        s = warpgroup_mma(q_smem, k_smem.index(0).permute((1, 0)), zeros_s, use_acc=False)
        for j in range(num_blocks):
            stage = j % STAGES
            # K of block j+1 (zeros past the end): issue its Q·Kᵀ before block j's softmax
            cp.wait_group(2 * STAGES - 5)
            gl.thread_barrier()
            fence_async_shared()
            s_next = warpgroup_mma(
                q_smem, k_smem.index((j + 1) % STAGES).permute((1, 0)), zeros_s, use_acc=False,
                is_async=True,
            )  # fmt: skip
            if SOFTMAX:
                s = gl.where((j * BLOCK_N + score_keys < kv_len)[None, :], s, float("-inf"))
                m_new = gl.maximum(m_i, gl.max(s, 1))
                alpha = gl.exp2((m_i - m_new) * exp2_scale)
                p = gl.exp2(s * exp2_scale - (m_new * exp2_scale)[:, None])
                l_i = l_i * alpha + gl.sum(p, 1)
                m_i = m_new
            else:  # False: a probe of the GEMMs and waits alone (wrong output)
                p = s
                alpha = l_i  # unused
            p = gl.convert_layout(p.to(dtype), p_layout)
            # Both in flight during the softmax above; waiting for one of them only (pendings 1)
            # makes ptxas serialize every wgmma (C7514: the other's accumulator is read meanwhile).
            o, s_done = warpgroup_mma_wait(0, deps=(acc, s_next))
            if SOFTMAX:
                o = o * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
            acc = warpgroup_mma(p, v_smem.index(stage), o, is_async=True)
            s = s_done
            # the stage of block j-1 is free (its P·V is done): refill it with block j+STAGES-1
            if WARPS > 4:  # every warpgroup's P·V j-1 done, not only this one's
                gl.thread_barrier()
            refill = j + STAGES - 1
            ahead = (refill + 1) * BLOCK_N + keys
            next_loc = gl.load(kv_indices_ptr + kv_start + ahead, mask=ahead < kv_len, other=0)
            if REFILL:  # False: a probe of the math alone, reusing the first blocks (wrong output)
                _issue_block(
                    k_ptr, v_ptr, k_smem.index(refill % STAGES), v_smem.index(refill % STAGES), loc,
                    refill * BLOCK_N + keys < kv_len, kv_head, stride_k_tok, stride_kh,
                    stride_v_tok, stride_vh, offs_d,
                )  # fmt: skip
            else:
                cp.commit_group()
                cp.commit_group()
            loc = next_loc
        o = warpgroup_mma_wait(0, deps=(acc,))
        cp.wait_group(0)

        out_rows = gl.arange(0, BLOCK_M, layout=gl.SliceLayout(1, o_layout))
        out_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(0, o_layout))
        out_valid = out_rows // GROUP < num_members
        member = member_start + out_rows // GROUP
        out_batch = gl.load(members_ptr + member * 4, mask=out_valid, other=0)
        slot_base = gl.load(members_ptr + member * 4 + 1, mask=out_valid, other=-1)
        out_head = kv_head * GROUP + out_rows % GROUP
        l_o = gl.convert_layout(l_i, gl.SliceLayout(1, o_layout))
        out = o / l_o[:, None]
        gl.store(
            o_ptr + (out_batch * stride_ob + out_head * stride_oh)[:, None] + out_d[None, :],
            out.to(o_ptr.dtype.element_ty),
            mask=(out_valid & (slot_base < 0))[:, None],
        )
        slot = (slot_base + chunk).to(gl.int64)
        is_partial = out_valid & (slot_base >= 0)
        gl.store(
            partial_o_ptr
            + (slot * stride_po_slot + out_head * stride_po_head)[:, None]
            + out_d[None, :],
            out,
            mask=is_partial[:, None],
        )
        lse = (m_i * exp2_scale + gl.log2(l_i)) * 0.6931471805599453
        lse_rows = gl.arange(0, BLOCK_M, layout=gl.SliceLayout(1, s_layout))
        lse_member = member_start + lse_rows // GROUP
        lse_valid = lse_rows // GROUP < num_members
        lse_slot = gl.load(members_ptr + lse_member * 4 + 1, mask=lse_valid, other=-1)
        gl.store(
            partial_lse_ptr
            + (lse_slot + chunk).to(gl.int64) * stride_pl_slot
            + kv_head * GROUP
            + lse_rows % GROUP,
            lse,
            mask=lse_valid & (lse_slot >= 0),
        )


_counts: dict[tuple[int, int], torch.Tensor] = {}  # item counts on the device, per items tensor


def shared_pack(q, k, v, o, kv_indices, items, members, partial_o, partial_lse, *,
                sm_scale: float, stages: int = 3, block_n: int = 64,
                block_m: int = 64, refill: bool = True,
                softmax: bool = True, count: torch.Tensor | None = None,
                programs: int | None = None):  # fmt: skip
    """Run the shared items ``items`` (at most ``block_m`` rows, chunk >= 0) over every KV
    head; one warpgroup a 64 rows (a 128-row tile: two warpgroups on the same K/V blocks).

    ``count``: an int32 device tensor whose first element is the number of items to run
    (default: all of ``items``, kept on the device from the first call, which must not be
    inside a graph capture). ``programs``: a fixed grid that strides over the units, as a
    graph replaying changing plans needs; default: one program a unit."""
    num_kv_heads, head_dim = k.shape[1], k.shape[2]
    group = q.shape[1] // num_kv_heads
    if k.dtype not in (torch.bfloat16, torch.float16) or head_dim not in (64, 128):
        raise ValueError(f"k: bf16/fp16 with head_dim 64 or 128, got {k.dtype} {head_dim}")
    if count is None:
        key = (items.data_ptr(), items.shape[0])
        if key not in _counts:
            _counts[key] = torch.tensor([items.shape[0]], dtype=torch.int32, device=items.device)
        count = _counts[key]
    grid = (programs or items.shape[0] * num_kv_heads,)
    return _shared_pack_kernel[grid](
        q, k, v, o, kv_indices, items, members, count, partial_o, partial_lse,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), v.stride(0), v.stride(1),
        o.stride(0), o.stride(1), partial_o.stride(0), partial_o.stride(1), partial_lse.stride(0),
        sm_scale,
        NUM_KV_HEADS=num_kv_heads, GROUP=group, BLOCK_D=head_dim, BLOCK_M=block_m, BLOCK_N=block_n,
        STAGES=stages, WARPS=block_m // 16, REFILL=refill, SOFTMAX=softmax,
        PERSISTENT=programs is not None, num_warps=block_m // 16,
    )  # fmt: skip
