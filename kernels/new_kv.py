"""Triton helper of the pack kernels: a unit writes the layer's new K/V of its requests into
the KV buffers before it reads them (``PatDecoder(stores_new_kv=True)``)."""

import triton
import triton.language as tl

from .rows import _slot_rows


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
