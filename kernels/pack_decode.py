"""Triton kernel of PAT decode: the persistent multi-tile pack kernel.

Its helpers live beside it (``rows.py``, ``attend.py``, ``new_kv.py``), the gather and merge
kernels in ``gather.py`` and ``merge.py``; launchers and input checks in ``launch.py``; the
plan's arrays are described in ``sglang_pat/plan.py``.
"""

import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents

from .attend import _attend_item, _attend_tails
from .new_kv import _store_new_kv

# Which items a _pack_decode_kernel launch takes (its PART constexpr).
ALL_ITEMS = tl.constexpr(0)
SHARED_PART = tl.constexpr(1)
PRIVATE_PART = tl.constexpr(2)


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
        # (sglang_pat.launch_policy.merge_starts_early); a program that exits without the trigger
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
            # charges that: chunk_cost.chunk_cost). Each unit done takes one ticket, so a
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
