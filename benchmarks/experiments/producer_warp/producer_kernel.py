"""The sm90 shared part with its K/V gathers in a producer partition (``gl.warp_specialize``).

Until session 73 the product's sm90 part (``kernels/shared_part_sm90.py``) gathered each
64-key block with ``cp.async`` issued by the same warpgroup that runs the wgmma and the
softmax, and waited for the copies (``cp.async.wait_group`` + a CTA barrier) inside its
chain. Session 71 measured that chain, not the bytes, as what sets the shared part's time
(``../paired_tiles/``). Here a worker partition of PRODUCER_WARPS warps walks the same
units and blocks, fills the ring of STAGES buffers and signals each stage's ``ready`` mbarrier
when its copies land (``cp.async.mbarrier.arrive``); the math warpgroup (the default
partition) waits on that barrier, and gives a stage back on its ``empty`` mbarrier once the
block's P·V is done.

Shared items only (``chunk >= 0``): the launcher rejects plans whose shared part holds packed
tails. Otherwise as the product's kernel: same units, same outputs, same schedule of wgmma.

Since the product took this design (its gather and math partitions; with packed tails too
until session 77), the build here reuses the product's ``_gather_chunk`` and ``_attend_chunk``;
what stays its own is the pairing (``CONSUMERS = 2``) and its register split (PRODUCER_REGS).
"""

from sglang_pat.kernels.shared_part_sm90 import (
    _attend_chunk,
    _gather_chunk,
    _gather_layout,
    _load_q,
    _store_tile,
    _wgmma_layout,
)
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy as cp
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier


@gluon.jit
def _unit_item(pairs_ptr, unit, NUM_KV_HEADS: gl.constexpr, SLOT: gl.constexpr):
    """The item that a partition computes of ``unit`` (work, KV head): the unit's own item
    when the work is items (SLOT < 0), else item SLOT of the unit's pair (−1: no partner)."""
    if SLOT < 0:
        item = unit // NUM_KV_HEADS
    else:
        item = gl.load(pairs_ptr + (unit // NUM_KV_HEADS) * 2 + SLOT)
    return item


@gluon.jit
def _producer(
    k_ptr, v_ptr, kv_indices_ptr, items_ptr, pairs_ptr, count_ptr, k_smem, v_smem, ready,
    empty, stride_k_tok, stride_kh, stride_v_tok, stride_vh, NUM_KV_HEADS: gl.constexpr,
    BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, STAGES: gl.constexpr,
    OFFSET_64: gl.constexpr, PRODUCER_WARPS: gl.constexpr, LEAD_SLOT: gl.constexpr,
):  # fmt: skip
    """Every unit's blocks, in the consumers' order, into the ring: wait for the stage to be
    empty, gather the block's K and V rows, arrive on its ``ready`` barrier when they land.
    A unit's KV range is its lead item's (LEAD_SLOT: see ``_unit_item``; a pair's two items
    read the same range)."""
    ld_layout: gl.constexpr = _gather_layout(BLOCK_D, PRODUCER_WARPS)
    keys = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, ld_layout))
    offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(0, ld_layout))
    filled = 0
    for unit in range(gl.program_id(0), gl.load(count_ptr) * NUM_KV_HEADS, gl.num_programs(0)):
        record = items_ptr + _unit_item(pairs_ptr, unit, NUM_KV_HEADS, LEAD_SLOT) * 6
        kv_start = gl.load(record + 0)
        kv_len = gl.load(record + 1)
        filled = _gather_chunk(
            k_ptr, v_ptr, kv_indices_ptr, k_smem, v_smem, ready, empty, filled, kv_start,
            kv_len, unit % NUM_KV_HEADS, keys, offs_d, stride_k_tok, stride_kh, stride_v_tok,
            stride_vh, BLOCK_N, STAGES, OFFSET_64,
        )  # fmt: skip
    cp.wait_group(0)


@gluon.jit
def _attend_unit(
    q_ptr, o_ptr, items_ptr, members_ptr, partial_o_ptr, partial_lse_ptr, q_smem, k_smem,
    v_smem, ready, empty, item, kv_head, kv_len, used, stride_qb, stride_qh, stride_ob,
    stride_oh, stride_po_slot, stride_po_head, stride_pl_slot, exp2_scale,
    GROUP: gl.constexpr, BLOCK_D: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr,
    STAGES: gl.constexpr, OFFSET_64: gl.constexpr,
):  # fmt: skip
    """One unit's tile over ring blocks ``used ..``: its Q, the product's ``_attend_chunk``,
    its outputs."""
    record = items_ptr + item * 6
    member_start = gl.load(record + 2)
    num_members = gl.load(record + 3)
    _load_q(q_ptr, q_smem, members_ptr, member_start, num_members, kv_head, stride_qb,
            stride_qh, GROUP, BLOCK_M, BLOCK_D, OFFSET_64, _gather_layout(BLOCK_D))  # fmt: skip
    gl.thread_barrier()  # every warp's Q rows are stored before the wgmma reads them
    fence_async_shared()
    o, m_i, l_i = _attend_chunk(
        q_smem, k_smem, v_smem, ready, empty, used, kv_len, exp2_scale, BLOCK_M, BLOCK_N,
        BLOCK_D, STAGES,
    )  # fmt: skip
    _store_tile(o, m_i, l_i, o_ptr, partial_o_ptr, partial_lse_ptr, members_ptr, member_start,
                num_members, gl.load(record + 4), kv_head, exp2_scale, stride_ob, stride_oh,
                stride_po_slot, stride_po_head, stride_pl_slot, GROUP, BLOCK_M, BLOCK_D,
                OFFSET_64, _wgmma_layout(BLOCK_N), _wgmma_layout(BLOCK_D))  # fmt: skip
    gl.thread_barrier()  # every warp is done with Q before the next unit's is stored


@gluon.jit
def _release_blocks(ready, empty, used, num_blocks, STAGES: gl.constexpr):
    """Take ring blocks ``used .. used + num_blocks - 1`` and give them back unread (a pair's
    missing partner), so that the stages' ``empty`` barriers still count every consumer."""
    for j in range(num_blocks):
        block = used + j
        mbarrier.wait(ready.index(block % STAGES), (block // STAGES) & 1)
        mbarrier.arrive(empty.index(block % STAGES))


@gluon.jit
def _consumer(
    q_ptr, o_ptr, items_ptr, members_ptr, pairs_ptr, count_ptr, partial_o_ptr,
    partial_lse_ptr, q_smem, k_smem, v_smem, ready, empty, stride_qb, stride_qh, stride_ob,
    stride_oh, stride_po_slot, stride_po_head, stride_pl_slot, sm_scale,
    NUM_KV_HEADS: gl.constexpr, GROUP: gl.constexpr, BLOCK_D: gl.constexpr,
    BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, STAGES: gl.constexpr,
    OFFSET_64: gl.constexpr, SLOT: gl.constexpr, LEAD_SLOT: gl.constexpr,
):  # fmt: skip
    """A math warpgroup: per unit, the item ``_unit_item`` gives it at SLOT over the unit's
    ring blocks (``_attend_unit``); without one (a pair's missing partner) it releases the
    blocks unread. Every consumer walks the same units, so each counts the same blocks."""
    exp2_scale = sm_scale * 1.4426950408889634
    used = 0
    for unit in range(gl.program_id(0), gl.load(count_ptr) * NUM_KV_HEADS, gl.num_programs(0)):
        item = _unit_item(pairs_ptr, unit, NUM_KV_HEADS, SLOT)
        lead = _unit_item(pairs_ptr, unit, NUM_KV_HEADS, LEAD_SLOT)
        kv_len = gl.load(items_ptr + lead * 6 + 1)
        if item < 0:
            _release_blocks(ready, empty, used, gl.cdiv(kv_len, BLOCK_N), STAGES)
        else:
            _attend_unit(
                q_ptr, o_ptr, items_ptr, members_ptr, partial_o_ptr, partial_lse_ptr, q_smem,
                k_smem, v_smem, ready, empty, item, unit % NUM_KV_HEADS, kv_len, used,
                stride_qb, stride_qh, stride_ob, stride_oh, stride_po_slot, stride_po_head,
                stride_pl_slot, exp2_scale, GROUP, BLOCK_D, BLOCK_M, BLOCK_N, STAGES,
                OFFSET_64,
            )  # fmt: skip
        used += gl.cdiv(kv_len, BLOCK_N)


@gluon.jit
def _producer_warp_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, kv_indices_ptr, items_ptr, members_ptr, pairs_ptr, count_ptr,
    partial_o_ptr, partial_lse_ptr,
    stride_qb, stride_qh, stride_k_tok, stride_kh, stride_v_tok, stride_vh,
    stride_ob, stride_oh, stride_po_slot, stride_po_head, stride_pl_slot,
    sm_scale,
    NUM_KV_HEADS: gl.constexpr, GROUP: gl.constexpr, BLOCK_D: gl.constexpr,
    BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, STAGES: gl.constexpr,
    OFFSET_64: gl.constexpr, PRODUCER_WARPS: gl.constexpr, PRODUCER_REGS: gl.constexpr,
    CONSUMERS: gl.constexpr, CONSUMER_REGS: gl.constexpr,
):  # fmt: skip
    """CONSUMERS 1: the work is the plan's first ``count_ptr[0]`` items, one math warpgroup.
    CONSUMERS 2: the work is ``pairs_ptr``'s first ``count_ptr[0]`` item pairs (``[P, 2]``,
    two items of one KV chunk, the second −1 without a partner): the producer gathers each
    block once and two math warpgroups (the default partition and a worker of
    CONSUMER_REGS registers) each run one item of the pair on it."""
    gl.static_assert(STAGES >= 3, "block j+1's K lands while block j's V is read")
    gl.static_assert(BLOCK_M == 64, "one warpgroup of 64 rows")
    gl.static_assert(CONSUMERS == 1 or CONSUMERS == 2, "one item a unit, or a pair")
    dtype: gl.constexpr = k_ptr.dtype.element_ty
    tile_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_N, BLOCK_D], dtype)
    q_smem_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_M, BLOCK_D], dtype)
    q_smem = gl.allocate_shared_memory(dtype, [CONSUMERS, BLOCK_M, BLOCK_D], q_smem_layout)
    k_smem = gl.allocate_shared_memory(dtype, [STAGES, BLOCK_N, BLOCK_D], tile_layout)
    v_smem = gl.allocate_shared_memory(dtype, [STAGES, BLOCK_N, BLOCK_D], tile_layout)
    ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for stage in gl.static_range(STAGES):
        # every producer thread arrives once a block (cp.async.mbarrier.arrive.noinc, when its
        # own copies land); each math warpgroup once
        mbarrier.init(ready.index(stage), count=32 * PRODUCER_WARPS)
        mbarrier.init(empty.index(stage), count=CONSUMERS)
    # Partition arguments are written out in full in each call: a jit function is no value
    # to hold in a tuple, and constexprs joined into a tuple by + arrive as tensors.
    if CONSUMERS == 1:
        gl.warp_specialize(
            [
                (
                    _consumer,
                    (q_ptr, o_ptr, items_ptr, members_ptr, pairs_ptr, count_ptr, partial_o_ptr,
                     partial_lse_ptr, q_smem.index(0), k_smem, v_smem, ready, empty, stride_qb,
                     stride_qh, stride_ob, stride_oh, stride_po_slot, stride_po_head,
                     stride_pl_slot, sm_scale, NUM_KV_HEADS, GROUP, BLOCK_D, BLOCK_M, BLOCK_N,
                     STAGES, OFFSET_64, -1, -1),
                ),
                (
                    _producer,
                    (k_ptr, v_ptr, kv_indices_ptr, items_ptr, pairs_ptr, count_ptr, k_smem,
                     v_smem, ready, empty, stride_k_tok, stride_kh, stride_v_tok, stride_vh,
                     NUM_KV_HEADS, BLOCK_N, BLOCK_D, STAGES, OFFSET_64, PRODUCER_WARPS, -1),
                ),
            ],
            [PRODUCER_WARPS],
            [PRODUCER_REGS],
        )  # fmt: skip
    else:
        gl.warp_specialize(
            [
                (
                    _consumer,
                    (q_ptr, o_ptr, items_ptr, members_ptr, pairs_ptr, count_ptr, partial_o_ptr,
                     partial_lse_ptr, q_smem.index(0), k_smem, v_smem, ready, empty, stride_qb,
                     stride_qh, stride_ob, stride_oh, stride_po_slot, stride_po_head,
                     stride_pl_slot, sm_scale, NUM_KV_HEADS, GROUP, BLOCK_D, BLOCK_M, BLOCK_N,
                     STAGES, OFFSET_64, 0, 0),
                ),
                (
                    _consumer,
                    (q_ptr, o_ptr, items_ptr, members_ptr, pairs_ptr, count_ptr, partial_o_ptr,
                     partial_lse_ptr, q_smem.index(1), k_smem, v_smem, ready, empty, stride_qb,
                     stride_qh, stride_ob, stride_oh, stride_po_slot, stride_po_head,
                     stride_pl_slot, sm_scale, NUM_KV_HEADS, GROUP, BLOCK_D, BLOCK_M, BLOCK_N,
                     STAGES, OFFSET_64, 1, 0),
                ),
                (
                    _producer,
                    (k_ptr, v_ptr, kv_indices_ptr, items_ptr, pairs_ptr, count_ptr, k_smem,
                     v_smem, ready, empty, stride_k_tok, stride_kh, stride_v_tok, stride_vh,
                     NUM_KV_HEADS, BLOCK_N, BLOCK_D, STAGES, OFFSET_64, PRODUCER_WARPS, 0),
                ),
            ],
            [4, PRODUCER_WARPS],
            [CONSUMER_REGS, PRODUCER_REGS],
        )  # fmt: skip
