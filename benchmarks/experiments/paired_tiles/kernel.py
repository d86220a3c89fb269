"""Gluon sm90: the shared part with two 64-row tiles of one KV chunk in one warpgroup.

gsp 4 × 32's shared part loads each prefix's K/V twice, once for each 64-row tile of 16
requests (``../contention/``); 128-row tiles on two warpgroups did not fit beside the private
part (``../shared_rows/``, ``../gluon_shared/``). Here one warpgroup (4 warps, as the product's
sm90 shared part) takes a *pair* of items that read the same KV chunk with different members:
each 64-key block of K and V is gathered once into a ring of STAGES buffers, and both tiles
use it. Two tiles' accumulators (2 × 64 fp32 registers a thread) and scores (2 × 32) are live
at once.

The two tiles also give the warpgroup work to overlap, FlashAttention-3's ping-pong inside one
warpgroup: per block j, tile A's softmax runs while tile B's Q·Kᵀ is on the tensor cores, tile
B's softmax while tile A's P·V is, and B's P·V goes out with A's next Q·Kᵀ. Every wait is for
all wgmma in flight (``warpgroup_mma_wait(0)``): waiting for one of two makes ptxas serialize
the pipeline (C7514, ``../gluon_shared/README.md``).

cp.async groups, K then V for each block (``_issue_block``): before block j's loop body the
blocks j .. j+STAGES-2 are issued and K_j has landed. The refill of block j+STAGES-1 (into the
stage of block j-1, free once B's P·V j-1 is done) comes first; V_j is then awaited before
A's P·V (2·STAGES−2 younger groups), K_{j+1} before A's next Q·Kᵀ (2·STAGES−3).

Outputs as the product's sm90 shared part: fp32 O and natural-log LSE to slot ``slot_base +
chunk`` of each member, or the final output for a member with a single partial. Pairs come
from ``pairs_ptr`` ([P, 2] item indices, the second −1 for an item without a partner); items
of packed tails (chunk < 0) are not taken (the launcher checks).
"""

from sglang_pat.kernels.shared_part_sm90 import (
    _gather_layout,
    _issue_block,
    _load_q,
    _softmax_step,
    _store_tile,
    _wgmma_layout,
)
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
def _issue_ring_block(
    k_ptr, v_ptr, k_smem, v_smem, kv_indices_ptr, kv_start, kv_len, block, loc, keys, kv_head,
    stride_k_tok, stride_kh, stride_v_tok, stride_vh, offs_d, BLOCK_N: gl.constexpr,
    STAGES: gl.constexpr, OFFSET_64: gl.constexpr,
):  # fmt: skip
    """Gather block ``block`` of the chunk (its slots ``loc``) into ring stage ``block % STAGES``
    (``_issue_block``); returns the next block's slots, loaded meanwhile. (The product's until
    its gathers moved to a partition of their own, session 72.)"""
    ahead = (block + 1) * BLOCK_N + keys
    next_loc = gl.load(kv_indices_ptr + kv_start + ahead, mask=ahead < kv_len, other=0)
    _issue_block(
        k_ptr, v_ptr, k_smem.index(block % STAGES), v_smem.index(block % STAGES), loc,
        block * BLOCK_N + keys < kv_len, kv_head, stride_k_tok, stride_kh, stride_v_tok,
        stride_vh, offs_d, OFFSET_64,
    )  # fmt: skip
    return next_loc


@gluon.jit
def _paired_shared_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, kv_indices_ptr, items_ptr, members_ptr, pairs_ptr, count_ptr,
    partial_o_ptr, partial_lse_ptr,
    stride_qb, stride_qh, stride_k_tok, stride_kh, stride_v_tok, stride_vh,
    stride_ob, stride_oh, stride_po_slot, stride_po_head, stride_pl_slot,
    sm_scale,
    NUM_KV_HEADS: gl.constexpr, GROUP: gl.constexpr, BLOCK_D: gl.constexpr,
    BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, STAGES: gl.constexpr,
    OFFSET_64: gl.constexpr,
):  # fmt: skip
    gl.static_assert(STAGES >= 3, "block j+1's K must be in flight while block j is computed")
    gl.static_assert(BLOCK_M == 64, "one warpgroup, tiles of 64 rows")
    dtype: gl.constexpr = k_ptr.dtype.element_ty
    s_layout: gl.constexpr = _wgmma_layout(BLOCK_N)
    o_layout: gl.constexpr = _wgmma_layout(BLOCK_D)
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    ld_layout: gl.constexpr = _gather_layout(BLOCK_D)
    tile_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_N, BLOCK_D], dtype)
    q_smem_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_M, BLOCK_D], dtype)

    q_smem = gl.allocate_shared_memory(dtype, [2, BLOCK_M, BLOCK_D], q_smem_layout)
    k_smem = gl.allocate_shared_memory(dtype, [STAGES, BLOCK_N, BLOCK_D], tile_layout)
    v_smem = gl.allocate_shared_memory(dtype, [STAGES, BLOCK_N, BLOCK_D], tile_layout)
    exp2_scale = sm_scale * 1.4426950408889634
    keys = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, ld_layout))
    offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(0, ld_layout))
    score_keys = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
    zeros_s = gl.zeros([BLOCK_M, BLOCK_N], gl.float32, s_layout)
    for unit in range(gl.program_id(0), gl.load(count_ptr) * NUM_KV_HEADS, gl.num_programs(0)):
        pair = unit // NUM_KV_HEADS
        kv_head = unit % NUM_KV_HEADS
        item_a = gl.load(pairs_ptr + pair * 2)
        item_b = gl.load(pairs_ptr + pair * 2 + 1)
        kv_start = gl.load(items_ptr + item_a * 6 + 0)
        kv_len = gl.load(items_ptr + item_a * 6 + 1)
        start_a = gl.load(items_ptr + item_a * 6 + 2)
        members_a = gl.load(items_ptr + item_a * 6 + 3)
        chunk = gl.load(items_ptr + item_a * 6 + 4)
        start_b = gl.load(items_ptr + gl.maximum(item_b, 0) * 6 + 2)
        members_b = gl.where(item_b >= 0, gl.load(items_ptr + gl.maximum(item_b, 0) * 6 + 3), 0)
        # every warp is done with the last unit's Q, K and V buffers before they are refilled
        gl.thread_barrier()
        _load_q(q_ptr, q_smem.index(0), members_ptr, start_a, members_a, kv_head, stride_qb,
                stride_qh, GROUP, BLOCK_M, BLOCK_D, OFFSET_64, ld_layout)  # fmt: skip
        _load_q(q_ptr, q_smem.index(1), members_ptr, start_b, members_b, kv_head, stride_qb,
                stride_qh, GROUP, BLOCK_M, BLOCK_D, OFFSET_64, ld_layout)  # fmt: skip

        num_blocks = gl.cdiv(kv_len, BLOCK_N)
        # prologue: blocks 0 .. STAGES-2 in flight, block STAGES-1's slots in registers
        loc = gl.load(kv_indices_ptr + kv_start + keys, mask=keys < kv_len, other=0)
        for b in gl.static_range(STAGES - 1):
            loc = _issue_ring_block(
                k_ptr, v_ptr, k_smem, v_smem, kv_indices_ptr, kv_start, kv_len, b, loc, keys,
                kv_head, stride_k_tok, stride_kh, stride_v_tok, stride_vh, offs_d, BLOCK_N,
                STAGES, OFFSET_64,
            )  # fmt: skip
        m_a = gl.full([BLOCK_M], float("-inf"), gl.float32, gl.SliceLayout(1, s_layout))
        l_a = gl.zeros([BLOCK_M], gl.float32, gl.SliceLayout(1, s_layout))
        m_b = gl.full([BLOCK_M], float("-inf"), gl.float32, gl.SliceLayout(1, s_layout))
        l_b = gl.zeros([BLOCK_M], gl.float32, gl.SliceLayout(1, s_layout))
        # carried: A's O as a tensor (its P·V awaited in the body), B's O and A's next scores
        # as wgmma accumulators still in flight
        acc_a = gl.zeros([BLOCK_M, BLOCK_D], gl.float32, o_layout)
        acc_b = warpgroup_mma_init(gl.zeros([BLOCK_M, BLOCK_D], gl.float32, o_layout))
        # a P·V's P (registers) is a dependency of its wait, so that ptxas keeps its registers
        # until the wgmma has read them (session 73: ../producer_warp/README.md)
        p_b = gl.zeros([BLOCK_M, BLOCK_N], dtype, p_layout)
        cp.wait_group(2 * STAGES - 3)  # K of block 0 landed
        gl.thread_barrier()
        fence_async_shared()
        # Block 0's Q·Kᵀ for A, awaited here: left in flight into the loop, ptxas serializes
        # every wgmma (C7515, B's O zeroed meanwhile)
        s_a = warpgroup_mma_init(
            warpgroup_mma(q_smem.index(0), k_smem.index(0).permute((1, 0)), zeros_s, use_acc=False)
        )
        for j in range(num_blocks):
            stage = j % STAGES
            # A's Q·Kᵀ j and B's P·V j-1 done: the stage of block j-1 is free for block j+S-1
            scores_a, o_b, _ = warpgroup_mma_wait(0, deps=(s_a, acc_b, p_b))
            loc = _issue_ring_block(
                k_ptr, v_ptr, k_smem, v_smem, kv_indices_ptr, kv_start, kv_len, j + STAGES - 1,
                loc, keys, kv_head, stride_k_tok, stride_kh, stride_v_tok, stride_vh, offs_d,
                BLOCK_N, STAGES, OFFSET_64,
            )  # fmt: skip
            # B's Q·Kᵀ j on the tensor cores during A's softmax
            s_b = warpgroup_mma(
                q_smem.index(1), k_smem.index(stage).permute((1, 0)), zeros_s, use_acc=False,
                is_async=True,
            )  # fmt: skip
            key_valid = j * BLOCK_N + score_keys < kv_len
            p_a, m_a, l_a, rescale_a = _softmax_step(
                scores_a, m_a, l_a, key_valid, exp2_scale, dtype, o_layout, p_layout
            )
            scores_b = warpgroup_mma_wait(0, deps=(s_b,))
            cp.wait_group(2 * STAGES - 2)  # V of block j landed
            gl.thread_barrier()
            fence_async_shared()
            # A's P·V j during B's softmax
            pv_a = warpgroup_mma(p_a, v_smem.index(stage), acc_a * rescale_a, is_async=True)
            p_b, m_b, l_b, rescale_b = _softmax_step(
                scores_b, m_b, l_b, key_valid, exp2_scale, dtype, o_layout, p_layout
            )
            acc_a, _ = warpgroup_mma_wait(0, deps=(pv_a, p_a))
            cp.wait_group(2 * STAGES - 3)  # K of block j+1 landed (zeros past the end)
            gl.thread_barrier()
            fence_async_shared()
            # B's P·V j and A's Q·Kᵀ j+1 together
            acc_b = warpgroup_mma(p_b, v_smem.index(stage), o_b * rescale_b, is_async=True)
            s_a = warpgroup_mma(
                q_smem.index(0), k_smem.index((j + 1) % STAGES).permute((1, 0)), zeros_s,
                use_acc=False, is_async=True,
            )  # fmt: skip
        _, o_b, _ = warpgroup_mma_wait(0, deps=(s_a, acc_b, p_b))
        cp.wait_group(0)
        _store_tile(acc_a, m_a, l_a, o_ptr, partial_o_ptr, partial_lse_ptr, members_ptr, start_a,
                    members_a, chunk, kv_head, exp2_scale, stride_ob, stride_oh, stride_po_slot,
                    stride_po_head, stride_pl_slot, GROUP, BLOCK_M, BLOCK_D, OFFSET_64, s_layout,
                    o_layout)  # fmt: skip
        _store_tile(o_b, m_b, l_b, o_ptr, partial_o_ptr, partial_lse_ptr, members_ptr, start_b,
                    members_b, chunk, kv_head, exp2_scale, stride_ob, stride_oh, stride_po_slot,
                    stride_po_head, stride_pl_slot, GROUP, BLOCK_M, BLOCK_D, OFFSET_64, s_layout,
                    o_layout)  # fmt: skip
