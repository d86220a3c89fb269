"""The plan's item, member and slot rows from its tiles and their chunk lengths, compiled.

Once the chunk lengths are chosen, the rest of a cold plan is loops over a few hundred tiles.
As numpy calls they were ~50 of them at 1-5 µs each, most of the cold plan's time at 256
requests. Compiled by numba (a dependency of SGLang 0.5.17; ``cache=True`` keeps the machine
code on disk, so only the first process on a machine compiles, a few seconds) they take ~13 µs.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np


class EmittedRows(NamedTuple):
    items: np.ndarray  # [I, 6] int32 (``sglang_pat/plan.py``)
    members: np.ndarray  # [M, 4] int32
    req_partial_indptr: np.ndarray  # [B + 1] int32
    num_shared_items: int
    tail_packed: np.ndarray  # [R] bool: private tile r is read by a packed-tail item
    tail_max_len: int  # the longest tail this plan may pack (``_tail_max_len``)
    tail_item_tiles: np.ndarray  # [single-tail items] the tile of each, in item order
    num_packed_items: int


@numba.njit(cache=True)
def _tail_max_len(
    tile_len, config, num_shared, max_tail, tail_members, tail_chunk0, tail_max_len,
    long_tail_max_len, num_kv_heads, num_sms,
):  # fmt: skip
    """The longest tail a plan packs: ``long_tail_max_len`` where the packed items of the
    packable tails (tile 0's, of one chunk) up to that long hold a unit per SM at least
    (items × KV heads ≥ SMs), else ``tail_max_len``.

    Packed, four 288-448-token tails read one after another in a unit, which beats four
    one-request units where the units still cover the SMs (gsp 4 × 32's 128 tails: 256 units);
    with fewer, the long units set the launch's length (64 tails of 512: 128 units, 7% slower
    than unpacked; H200, session 44, ``benchmarks/experiments/tail_tile``). As tails grow, fewer
    stay under either limit, so a lazy update keeps the cold plan's."""
    if max_tail <= tail_max_len or long_tail_max_len <= tail_max_len:
        return tail_max_len
    packed = 0
    for t in range(num_shared, tile_len.shape[0]):
        if config[t] == 0 and tile_len[t] <= min(tail_chunk0, long_tail_max_len):
            packed += 1
    if -(-packed // tail_members) * num_kv_heads >= num_sms:
        return long_tail_max_len
    return tail_max_len


@numba.njit(cache=True)
def _emit_rows(
    tile_len, tile_kv, tile_chunk, config, tile_cost, tile_member_start, tile_count, member_req,
    num_shared, num_requests, max_tail, tail_members, tail_chunk0, tail_max_len,
    long_tail_max_len, num_kv_heads, num_sms, tail_tile,
):  # fmt: skip
    num_tiles = tile_len.shape[0]
    num_tails = num_tiles - num_shared
    chunks = np.empty(num_tiles, np.int64)
    for t in range(num_tiles):
        chunks[t] = -(-tile_len[t] // tile_chunk[t])

    # Short single-chunk tails of tile 0 are packed into the menu's tail tile, tail_members per
    # item, in runs of consecutive requests (their member rows must be contiguous).
    packed = np.zeros(num_tiles, np.bool_)  # shared tiles never are
    if tail_members >= 2:
        tail_max_len = _tail_max_len(
            tile_len, config, num_shared, max_tail, tail_members, tail_chunk0, tail_max_len,
            long_tail_max_len, num_kv_heads, num_sms,
        )  # fmt: skip
        limit = min(tail_chunk0, tail_max_len)  # a tail of one chunk, short enough
        for t in range(num_shared, num_tiles):
            packed[t] = config[t] == 0 and tile_len[t] <= limit
    else:
        tail_max_len = 0
    group_first = np.empty(num_tails, np.int64)
    group_size = np.zeros(num_tails, np.int64)
    group_len = np.zeros(num_tails, np.int64)
    num_groups = 0
    open_group = False  # the last group continues this run and has room
    for t in range(num_shared, num_tiles):
        if not packed[t]:
            open_group = False
            continue
        if not open_group:
            group_first[num_groups] = t
            num_groups += 1
        g = num_groups - 1
        group_size[g] += 1
        group_len[g] = max(group_len[g], tile_len[t])
        open_group = group_size[g] < tail_members

    # Items, in the order programs take them: shared tiles' chunks by decreasing cost (a
    # stable sort), then the unpacked private tiles' full chunks, their last chunks, and the
    # packed tails.
    num_items = 0
    for t in range(num_tiles):
        if not packed[t]:
            num_items += chunks[t]
    item_tile = np.empty(num_items, np.int64)
    item_j = np.empty(num_items, np.int64)
    i = 0
    for t in range(num_tiles):  # every chunk before a tile's last
        if not packed[t]:
            for j in range(chunks[t] - 1):
                item_tile[i], item_j[i] = t, j
                i += 1
    for t in range(num_tiles):  # each tile's last chunk
        if not packed[t]:
            item_tile[i], item_j[i] = t, chunks[t] - 1
            i += 1
    sort_key = np.full(num_items, np.inf)
    for i in range(num_items):
        t = item_tile[i]
        if t < num_shared:
            span = min(tile_chunk[t], tile_len[t] - item_j[i] * tile_chunk[t])
            sort_key[i] = -(span * tile_cost[t])
    order = np.argsort(sort_key, kind="mergesort")
    items = np.empty((num_items + num_groups, 6), np.int32)
    tiles_in_order = np.empty(num_items, np.int64)
    num_shared_items = 0
    for i in range(num_items):
        t, j = item_tile[order[i]], item_j[order[i]]
        start = j * tile_chunk[t]
        items[i, 0] = tile_kv[t] + start
        items[i, 1] = min(tile_chunk[t], tile_len[t] - start)
        items[i, 2] = tile_member_start[t]
        items[i, 3] = tile_count[t]
        items[i, 4] = j
        items[i, 5] = config[t]
        tiles_in_order[i] = t
        num_shared_items += t < num_shared
    for g in range(num_groups):
        row = num_items + g
        items[row, 0] = 0
        items[row, 1] = group_len[g]
        items[row, 2] = tile_member_start[group_first[g]]
        items[row, 3] = group_size[g]
        items[row, 4] = -1
        items[row, 5] = tail_tile

    # Slots: a request with several partials owns consecutive slots, its rows' chunks in row
    # order (a shared row's before its private row's); one partial is its output (-1).
    num_members = member_req.shape[0]
    members = np.zeros((num_members, 4), np.int32)
    member_chunks = np.empty(num_members, np.int64)
    partials = np.zeros(num_requests, np.int64)
    for t in range(num_tiles):
        for m in range(tile_member_start[t], tile_member_start[t] + tile_count[t]):
            member_chunks[m] = chunks[t]
            partials[member_req[m]] += chunks[t]
            members[m, 0] = member_req[m]
            if packed[t]:  # a packed member reads its own tail
                members[m, 2] = tile_kv[t]
                members[m, 3] = tile_len[t]
    indptr = np.zeros(num_requests + 1, np.int32)
    next_slot = np.empty(num_requests, np.int64)
    for b in range(num_requests):
        next_slot[b] = indptr[b]
        indptr[b + 1] = indptr[b] + (partials[b] if partials[b] > 1 else 0)
    for m in range(num_members):
        b = member_req[m]
        if partials[b] > 1:
            members[m, 1] = next_slot[b]
            next_slot[b] += member_chunks[m]
        else:
            members[m, 1] = -1
    return (
        items, members, indptr, num_shared_items, packed[num_shared:], tail_max_len,
        tiles_in_order[num_shared_items:], num_groups,
    )  # fmt: skip


def emit_rows(
    tile_len: np.ndarray,
    tile_kv: np.ndarray,
    tile_chunk: np.ndarray,
    config: np.ndarray,
    tile_cost: np.ndarray,
    tile_member_start: np.ndarray,
    tile_count: np.ndarray,
    member_req: np.ndarray,
    *,
    num_shared: int,
    num_requests: int,
    max_tail: int,
    tail_members: int,
    tail_chunk0: int,
    tail_max_len: int,
    long_tail_max_len: int,
    num_kv_heads: int,
    num_sms: int,
    tail_tile: int,
) -> EmittedRows:
    """Item, member and slot rows of tiles (shared ones first, ``num_shared`` of them; then one
    private tile of one member per request with a tail) with chunk lengths ``tile_chunk``.

    Per tile: span ``tile_len``, first KV index ``tile_kv``, config, token cost, members
    ``member_req[tile_member_start : + tile_count]``; the longest tail ``max_tail``. Tails of
    config 0 that fit one chunk of ``tail_chunk0`` and are at most ``tail_max_len`` long
    (``long_tail_max_len`` where enough of them pack: ``_tail_max_len``) are packed,
    ``tail_members`` to an item of the menu's tile ``tail_tile`` (``tail_members`` < 2: none).
    Arrays are int64 (``tile_cost`` float64): one compiled specialisation.
    """
    rows = _emit_rows(
        tile_len, tile_kv, tile_chunk, config, tile_cost, tile_member_start, tile_count,
        member_req, num_shared, num_requests, max_tail, tail_members, tail_chunk0, tail_max_len,
        long_tail_max_len, num_kv_heads, num_sms, tail_tile,
    )  # fmt: skip
    return EmittedRows(*rows)
