"""The lean pair's shared part in Gluon for sm90: its K/V gathers in a producer partition.

One program a unit at a time (an item's 64 rows, its members × the GQA group, on one KV head),
on a fixed grid that strides over the units of the plan's first ``count_ptr[0]`` items, so a
CUDA graph replays it whatever the plan. ``gl.warp_specialize`` splits the program in two:
- the **gather partition** (GATHER_WARPS warps): per 64-key block, waits for a ring stage to
  be ``empty``, loads the block's slots and gathers its K and V rows by ``cp.async``, and has
  each thread arrive on the stage's ``ready`` mbarrier when its own copies land
  (``cp.async.mbarrier.arrive.noinc``: ``ready`` counts every gathering thread);
- the **math partition** (one warpgroup): FlashAttention-3's intra-warpgroup overlap. Block
  j+1's Q·Kᵀ is issued (async wgmma) before block j's softmax, and block j's P·V runs into
  block j+1's softmax. Each stage is taken on ``ready`` and given back on ``empty`` once its
  P·V is done.
When the math warps also issued the gathers and waited for them (``cp.async.wait_group``, a
barrier), their chain set the time. With a gather partition the step of a 64 × 64 tile falls
from ~1.4 to ~1.15 µs: 17% off gsp 4 × 32's prefixes alone, 17% off the wide fan-out's pair
(benchmarks/experiments/producer_warp/README.md, session 72).

Outputs follow ``_pack_decode_kernel``: fp32 O and natural-log LSE to slot ``slot_base + chunk``,
or the final output for a member with a single partial (``slot_base < 0``).
Pages of one token, bf16/fp16, head_dim = BLOCK_D, no logit cap: ``launch_sm90.py`` checks.
Every item it reads is a shared one (``chunk >= 0``, one KV range for all members): where this
part runs, the decoder's pair header always splits (``PatDecoder.stage``), so no packed tails
reach it, whole plans included.
"""

from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy as cp
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    warpgroup_mma,
    warpgroup_mma_init,
    warpgroup_mma_wait,
)


@gluon.constexpr_function
def _wgmma_layout(columns):
    """One warpgroup's (4 warps') wgmma accumulator layout for tiles of ``columns`` columns."""
    return gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, columns, 16]
    )


@gluon.constexpr_function
def _gather_layout(head_dim, num_warps=4):
    """The K/V and Q row gathers' layout on ``num_warps`` warps (one warpgroup unless a
    producer partition gathers): 16 B a thread a row piece (one cp.async)."""
    return gl.BlockedLayout([1, 8], [32 * 8 // head_dim, head_dim // 8], [num_warps, 1], [1, 0])


@gluon.jit
def _issue_block(
    k_ptr, v_ptr, k_smem, v_smem, loc, valid, kv_head, stride_k_tok, stride_kh,
    stride_v_tok, stride_vh, offs_d, OFFSET_64: gl.constexpr,
):  # fmt: skip
    """Gather one block's K and V rows into a ring stage: two cp.async groups, K first."""
    if OFFSET_64:
        loc = loc.to(gl.int64)
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
def _softmax_step(s, m_i, l_i, key_valid, exp2_scale, dtype: gl.constexpr,
                  o_layout: gl.constexpr, p_layout: gl.constexpr):  # fmt: skip
    """One block's online softmax for one tile: (P in the dot layout, m, l, O's rescale).
    O is rescaled by the caller once no wgmma is in flight: ptxas serializes the pipeline
    where other instructions define an accumulator's registers meanwhile (C7515)."""
    s = gl.where(key_valid[None, :], s, float("-inf"))
    m_new = gl.maximum(m_i, gl.max(s, 1))
    alpha = gl.exp2((m_i - m_new) * exp2_scale)
    p = gl.exp2(s * exp2_scale - (m_new * exp2_scale)[:, None])
    l_i = l_i * alpha + gl.sum(p, 1)
    rescale = gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
    return gl.convert_layout(p.to(dtype), p_layout), m_new, l_i, rescale


@gluon.jit
def _tile_rows(members_ptr, member_start, num_members, kv_head, rows, GROUP: gl.constexpr,
               OFFSET_64: gl.constexpr):  # fmt: skip
    """Rows ``rows`` (an arange in the layout of their use) of an item's tile: whether each is
    a member's, its member record and batch index, and its q head."""
    valid = rows // GROUP < num_members
    member = member_start + rows // GROUP
    batch = gl.load(members_ptr + member * 4, mask=valid, other=0)
    if OFFSET_64:
        batch = batch.to(gl.int64)
    return valid, member, batch, kv_head * GROUP + rows % GROUP


@gluon.jit
def _load_q(q_ptr, q_smem, members_ptr, member_start, num_members, kv_head, stride_qb, stride_qh,
            GROUP: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_D: gl.constexpr,
            OFFSET_64: gl.constexpr, ld_layout: gl.constexpr):  # fmt: skip
    """A tile's Q rows (its members × the GQA group of ``kv_head``) into ``q_smem``."""
    rows = gl.arange(0, BLOCK_M, layout=gl.SliceLayout(1, ld_layout))
    offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(0, ld_layout))
    valid, _, batch, q_head = _tile_rows(
        members_ptr, member_start, num_members, kv_head, rows, GROUP, OFFSET_64
    )
    q = gl.load(
        q_ptr + (batch * stride_qb + q_head * stride_qh)[:, None] + offs_d[None, :],
        mask=valid[:, None],
        other=0.0,
    )
    q_smem.store(q.to(q_smem.dtype))


@gluon.jit
def _store_tile(o, m_i, l_i, o_ptr, partial_o_ptr, partial_lse_ptr, members_ptr, member_start,
                num_members, chunk, kv_head, exp2_scale, stride_ob, stride_oh, stride_po_slot,
                stride_po_head, stride_pl_slot, GROUP: gl.constexpr, BLOCK_M: gl.constexpr,
                BLOCK_D: gl.constexpr, OFFSET_64: gl.constexpr, s_layout: gl.constexpr,
                o_layout: gl.constexpr):  # fmt: skip
    """A tile's partial O and LSE to its members' slots (``slot_base + chunk``), or its final
    output for members with one partial (``slot_base < 0``)."""
    out_rows = gl.arange(0, BLOCK_M, layout=gl.SliceLayout(1, o_layout))
    out_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(0, o_layout))
    out_valid, out_member, out_batch, out_head = _tile_rows(
        members_ptr, member_start, num_members, kv_head, out_rows, GROUP, OFFSET_64
    )
    slot_base = gl.load(members_ptr + out_member * 4 + 1, mask=out_valid, other=-1)
    out = o / gl.convert_layout(l_i, gl.SliceLayout(1, o_layout))[:, None]
    gl.store(
        o_ptr + (out_batch * stride_ob + out_head * stride_oh)[:, None] + out_d[None, :],
        out.to(o_ptr.dtype.element_ty),
        mask=(out_valid & (slot_base < 0))[:, None],
    )
    slot = (slot_base + chunk).to(gl.int64)
    gl.store(
        partial_o_ptr
        + (slot * stride_po_slot + out_head * stride_po_head)[:, None]
        + out_d[None, :],
        out,
        mask=(out_valid & (slot_base >= 0))[:, None],
    )
    lse = (m_i * exp2_scale + gl.log2(l_i)) * 0.6931471805599453
    lse_rows = gl.arange(0, BLOCK_M, layout=gl.SliceLayout(1, s_layout))
    lse_valid = lse_rows // GROUP < num_members
    lse_slot = gl.load(
        members_ptr + (member_start + lse_rows // GROUP) * 4 + 1, mask=lse_valid, other=-1
    )
    gl.store(
        partial_lse_ptr
        + (lse_slot + chunk).to(gl.int64) * stride_pl_slot
        + kv_head * GROUP
        + lse_rows % GROUP,
        lse,
        mask=lse_valid & (lse_slot >= 0),
    )


@gluon.jit
def _gather_block(
    k_ptr, v_ptr, k_smem, v_smem, ready, empty, filled, loc, valid, kv_head, stride_k_tok,
    stride_kh, stride_v_tok, stride_vh, offs_d, STAGES: gl.constexpr, OFFSET_64: gl.constexpr,
):  # fmt: skip
    """Ring block ``filled``: wait for its stage to be empty, gather rows ``loc`` (``valid``
    ones; the others zero-filled), and arrive on the stage's ``ready`` barrier as they land.
    A fresh barrier counts as having completed the phase before 0, so the ring's first pass
    does not wait."""
    stage = filled % STAGES
    mbarrier.wait(empty.index(stage), ((filled // STAGES) & 1) ^ 1)
    _issue_block(
        k_ptr, v_ptr, k_smem.index(stage), v_smem.index(stage), loc, valid, kv_head,
        stride_k_tok, stride_kh, stride_v_tok, stride_vh, offs_d, OFFSET_64,
    )  # fmt: skip
    cp.mbarrier_arrive(ready.index(stage), increment_count=False)


@gluon.jit
def _gather_chunk(
    k_ptr, v_ptr, kv_indices_ptr, k_smem, v_smem, ready, empty, filled, kv_start, kv_len,
    kv_head, keys, offs_d, stride_k_tok, stride_kh, stride_v_tok, stride_vh,
    BLOCK_N: gl.constexpr, STAGES: gl.constexpr, OFFSET_64: gl.constexpr,
):  # fmt: skip
    """A chunk's 64-key runs into ring blocks ``filled ..``, each block's slots loaded while
    the one before waits for its stage. Returns the ring's next block."""
    loc = gl.load(kv_indices_ptr + kv_start + keys, mask=keys < kv_len, other=0)
    for block in range(gl.cdiv(kv_len, BLOCK_N)):
        ahead = (block + 1) * BLOCK_N + keys
        next_loc = gl.load(kv_indices_ptr + kv_start + ahead, mask=ahead < kv_len, other=0)
        _gather_block(
            k_ptr, v_ptr, k_smem, v_smem, ready, empty, filled, loc,
            block * BLOCK_N + keys < kv_len, kv_head, stride_k_tok, stride_kh,
            stride_v_tok, stride_vh, offs_d, STAGES, OFFSET_64,
        )  # fmt: skip
        loc = next_loc
        filled += 1
    return filled


@gluon.jit
def _gather_partition(
    k_ptr, v_ptr, kv_indices_ptr, items_ptr, count_ptr, k_smem, v_smem, ready, empty,
    stride_k_tok, stride_kh, stride_v_tok, stride_vh, NUM_KV_HEADS: gl.constexpr,
    BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, STAGES: gl.constexpr,
    OFFSET_64: gl.constexpr, GATHER_WARPS: gl.constexpr,
):  # fmt: skip
    """Every unit's blocks into the ring, in the math partition's order (``_gather_chunk``)."""
    ld_layout: gl.constexpr = _gather_layout(BLOCK_D, GATHER_WARPS)
    keys = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, ld_layout))
    offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(0, ld_layout))
    filled = 0
    for unit in range(gl.program_id(0), gl.load(count_ptr) * NUM_KV_HEADS, gl.num_programs(0)):
        record = items_ptr + (unit // NUM_KV_HEADS) * 6
        kv_start = gl.load(record + 0)
        kv_len = gl.load(record + 1)
        filled = _gather_chunk(
            k_ptr, v_ptr, kv_indices_ptr, k_smem, v_smem, ready, empty, filled, kv_start,
            kv_len, unit % NUM_KV_HEADS, keys, offs_d, stride_k_tok, stride_kh, stride_v_tok,
            stride_vh, BLOCK_N, STAGES, OFFSET_64,
        )  # fmt: skip
    cp.wait_group(0)  # no copy in flight when the program ends


@gluon.jit
def _attend_chunk(
    q_smem, k_smem, v_smem, ready, empty, used, kv_len, exp2_scale, BLOCK_M: gl.constexpr,
    BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, STAGES: gl.constexpr,
):  # fmt: skip
    """An item's chunk over ring blocks ``used ..``: block j+1's Q·Kᵀ in flight during block
    j's softmax, block j's P·V into block j+1's. Returns (O, m, l, the ring's next block)."""
    dtype: gl.constexpr = q_smem.dtype
    s_layout: gl.constexpr = _wgmma_layout(BLOCK_N)
    o_layout: gl.constexpr = _wgmma_layout(BLOCK_D)
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    score_keys = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
    zeros_s = gl.zeros([BLOCK_M, BLOCK_N], gl.float32, s_layout)
    num_blocks = gl.cdiv(kv_len, BLOCK_N)
    m_i = gl.full([BLOCK_M], float("-inf"), gl.float32, gl.SliceLayout(1, s_layout))
    l_i = gl.zeros([BLOCK_M], gl.float32, gl.SliceLayout(1, s_layout))
    acc = warpgroup_mma_init(gl.zeros([BLOCK_M, BLOCK_D], gl.float32, o_layout))
    # P·V reads its P from registers while in flight: they must stay P's until its wait, so P
    # is a dependency of that wait. Without it ptxas gave them to the next block's softmax
    # (garbage O with the right LSE at d = 64, session 73).
    p_in_flight = gl.zeros([BLOCK_M, BLOCK_N], dtype, p_layout)
    # A unit without keys has no block to wait for (its O is then 0 / 0, as in the Triton
    # part). The gathers wrote through the generic proxy and the wgmma reads through the
    # async one: a proxy fence after each barrier's acquire.
    mbarrier.wait(ready.index(used % STAGES), (used // STAGES) & 1, pred=num_blocks > 0)
    fence_async_shared()
    s = warpgroup_mma(q_smem, k_smem.index(used % STAGES).permute((1, 0)), zeros_s, use_acc=False)
    for j in range(num_blocks):
        current = used + j
        upcoming = current + 1
        # block j+1's K when the chunk has one; past the end the stage is read and the
        # scores thrown away
        mbarrier.wait(
            ready.index(upcoming % STAGES), (upcoming // STAGES) & 1, pred=j + 1 < num_blocks
        )
        fence_async_shared()
        s_next = warpgroup_mma(
            q_smem, k_smem.index(upcoming % STAGES).permute((1, 0)), zeros_s, use_acc=False,
            is_async=True,
        )  # fmt: skip
        p, m_i, l_i, rescale = _softmax_step(
            s, m_i, l_i, j * BLOCK_N + score_keys < kv_len, exp2_scale, dtype, o_layout, p_layout
        )
        # Both in flight during the softmax above; waiting for one of them only (pendings 1)
        # makes ptxas serialize every wgmma (C7514: the other's accumulator is read meanwhile).
        o, s_done, _ = warpgroup_mma_wait(0, deps=(acc, s_next, p_in_flight))
        # block j-1's P·V is done: its stage goes back to the gathers
        mbarrier.arrive(empty.index((current + STAGES - 1) % STAGES), pred=j > 0)
        acc = warpgroup_mma(p, v_smem.index(current % STAGES), o * rescale, is_async=True)
        p_in_flight = p
        s = s_done
    o, _ = warpgroup_mma_wait(0, deps=(acc, p_in_flight))
    last_stage = (used + num_blocks + STAGES - 1) % STAGES
    mbarrier.arrive(empty.index(last_stage), pred=num_blocks > 0)
    return o, m_i, l_i, used + num_blocks


@gluon.jit
def _math_partition(
    q_ptr, o_ptr, items_ptr, members_ptr, count_ptr, partial_o_ptr, partial_lse_ptr, q_smem,
    k_smem, v_smem, ready, empty, stride_qb, stride_qh, stride_ob, stride_oh, stride_po_slot,
    stride_po_head, stride_pl_slot, sm_scale, NUM_KV_HEADS: gl.constexpr, GROUP: gl.constexpr,
    BLOCK_D: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, STAGES: gl.constexpr,
    OFFSET_64: gl.constexpr,
):  # fmt: skip
    """Per unit: its Q tile into shared memory, its blocks from the ring (``_attend_chunk``,
    which counts them as the gather partition does and returns the ring's next block), its
    outputs."""
    s_layout: gl.constexpr = _wgmma_layout(BLOCK_N)
    o_layout: gl.constexpr = _wgmma_layout(BLOCK_D)
    q_layout: gl.constexpr = _gather_layout(BLOCK_D)
    exp2_scale = sm_scale * 1.4426950408889634
    used = 0
    for unit in range(gl.program_id(0), gl.load(count_ptr) * NUM_KV_HEADS, gl.num_programs(0)):
        record = items_ptr + (unit // NUM_KV_HEADS) * 6
        kv_head = unit % NUM_KV_HEADS
        kv_len = gl.load(record + 1)
        member_start = gl.load(record + 2)
        num_members = gl.load(record + 3)
        chunk = gl.load(record + 4)
        _load_q(q_ptr, q_smem, members_ptr, member_start, num_members, kv_head, stride_qb,
                stride_qh, GROUP, BLOCK_M, BLOCK_D, OFFSET_64, q_layout)  # fmt: skip
        gl.thread_barrier()  # every warp's Q rows are stored before the wgmma reads them
        fence_async_shared()
        o, m_i, l_i, used = _attend_chunk(
            q_smem, k_smem, v_smem, ready, empty, used, kv_len, exp2_scale, BLOCK_M, BLOCK_N,
            BLOCK_D, STAGES,
        )  # fmt: skip
        _store_tile(o, m_i, l_i, o_ptr, partial_o_ptr, partial_lse_ptr, members_ptr,
                    member_start, num_members, chunk, kv_head, exp2_scale,
                    stride_ob, stride_oh, stride_po_slot, stride_po_head, stride_pl_slot, GROUP,
                    BLOCK_M, BLOCK_D, OFFSET_64, s_layout, o_layout)  # fmt: skip
        gl.thread_barrier()  # every warp is done with Q before the next unit's is stored


@gluon.jit
def _shared_part_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, kv_indices_ptr, items_ptr, members_ptr, count_ptr,
    partial_o_ptr, partial_lse_ptr,
    stride_qb, stride_qh, stride_k_tok, stride_kh, stride_v_tok, stride_vh,
    stride_ob, stride_oh, stride_po_slot, stride_po_head, stride_pl_slot,
    sm_scale,
    NUM_KV_HEADS: gl.constexpr, GROUP: gl.constexpr, BLOCK_D: gl.constexpr,
    BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, STAGES: gl.constexpr,
    OFFSET_64: gl.constexpr, GATHER_WARPS: gl.constexpr, GATHER_REGS: gl.constexpr,
):  # fmt: skip
    gl.static_assert(STAGES >= 3, "block j+1's K lands while block j's V is read")
    gl.static_assert(BLOCK_M == 64, "one warpgroup of 64 rows")
    dtype: gl.constexpr = k_ptr.dtype.element_ty
    tile_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_N, BLOCK_D], dtype)
    q_smem_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_M, BLOCK_D], dtype)
    q_smem = gl.allocate_shared_memory(dtype, [BLOCK_M, BLOCK_D], q_smem_layout)
    k_smem = gl.allocate_shared_memory(dtype, [STAGES, BLOCK_N, BLOCK_D], tile_layout)
    v_smem = gl.allocate_shared_memory(dtype, [STAGES, BLOCK_N, BLOCK_D], tile_layout)
    ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for stage in gl.static_range(STAGES):
        # every gathering thread arrives once a block (when its own copies land); the math
        # warpgroup once (one thread, after its partition's barrier)
        mbarrier.init(ready.index(stage), count=32 * GATHER_WARPS)
        mbarrier.init(empty.index(stage), count=1)
    gl.warp_specialize(
        [
            (
                _math_partition,
                (q_ptr, o_ptr, items_ptr, members_ptr, count_ptr, partial_o_ptr,
                 partial_lse_ptr, q_smem, k_smem, v_smem, ready, empty, stride_qb, stride_qh,
                 stride_ob, stride_oh, stride_po_slot, stride_po_head, stride_pl_slot,
                 sm_scale, NUM_KV_HEADS, GROUP, BLOCK_D, BLOCK_M, BLOCK_N, STAGES, OFFSET_64),
            ),
            (
                _gather_partition,
                (k_ptr, v_ptr, kv_indices_ptr, items_ptr, count_ptr, k_smem, v_smem, ready,
                 empty, stride_k_tok, stride_kh, stride_v_tok, stride_vh, NUM_KV_HEADS,
                 BLOCK_N, BLOCK_D, STAGES, OFFSET_64, GATHER_WARPS),
            ),
        ],
        [GATHER_WARPS],
        [GATHER_REGS],
    )  # fmt: skip
