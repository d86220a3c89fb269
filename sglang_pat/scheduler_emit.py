"""Array emission of the pack plan, vectorised over tiles (the lazy update is in ``lazy``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chunking import ChunkCounts, ChunkRule
from .forest import PrefixForest
from .lazy import LazyState
from .plan import PackPlan

# Array methods (``a.cumsum()``, ``a.nonzero()``, ``a.repeat()``, ``a.argsort()``) skip the
# dispatch of their ``np.`` functions: half a microsecond each, and a cold plan makes ~70 calls.


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.empty(values.shape[0] + 1, dtype=np.int64)
    out[0] = 0
    values.cumsum(out=out[1:])
    return out


@dataclass
class TileTable:
    """Packs (shared first, then one private pack per request with a tail) and their row tiles."""

    pack_start: np.ndarray  # [P] first token of the span in the representative's row
    pack_len: np.ndarray  # [P]
    pack_rep: np.ndarray  # [P] batch index of the representative
    members: np.ndarray  # [M] batch index of every pack member, pack after pack
    tile_pack: np.ndarray  # [T]
    tile_member_start: np.ndarray  # [T] into ``members``
    tile_count: np.ndarray  # [T] members in the tile
    tile_config: np.ndarray  # [T] index into the tile menu
    num_shared_tiles: int

    @classmethod
    def build(
        cls,
        shared_packs: list[int],
        pack_members: list[np.ndarray],
        shared_tiles: list[int],
        tail_start: np.ndarray,
        tails: np.ndarray,
        private_config: np.ndarray,
    ) -> TileTable:
        """Shared packs, flat ``start, length, representative`` triples, with their members,
        their tiles as flat ``pack, first member row, members, config`` quadruples, then one
        private tile per tail. (Flat lists: numpy converts them at half the cost of tuples.)"""
        num_requests = tails.shape[0]
        private_reqs = tails.nonzero()[0]
        num_private = private_reqs.shape[0]
        if num_private < num_requests:  # else every request has a tail: no gathers
            tail_start, tails = tail_start[private_reqs], tails[private_reqs]
            private_config = private_config[private_reqs]
        packs = np.array(shared_packs, dtype=np.int64).reshape(-1, 3)
        shared = np.array(shared_tiles, dtype=np.int64).reshape(-1, 4)
        private_rows = np.arange(num_private)
        members = np.concatenate([*pack_members, private_reqs])
        return cls(
            pack_start=np.concatenate([packs[:, 0], tail_start]),
            pack_len=np.concatenate([packs[:, 1], tails]),
            pack_rep=np.concatenate([packs[:, 2], private_reqs]),
            members=members,
            tile_pack=np.concatenate([shared[:, 0], packs.shape[0] + private_rows]),
            tile_member_start=np.concatenate(
                [shared[:, 1], members.shape[0] - num_private + private_rows]
            ),
            tile_count=np.concatenate([shared[:, 2], np.ones(num_private, dtype=np.int64)]),
            tile_config=np.concatenate([shared[:, 3], private_config]),
            num_shared_tiles=shared.shape[0],
        )


def emit_plan(
    tiles: TileTable,
    pool_rows: np.ndarray,
    forest: PrefixForest,
    rule: ChunkRule,
    tail_config_breaks: np.ndarray,
) -> tuple[PackPlan, LazyState | None]:
    """Plan arrays from the tile table (few, large numpy calls: this runs every step)."""
    num_packs = tiles.pack_len.shape[0]
    kv_offset = _exclusive_cumsum(tiles.pack_len)
    segments = np.empty((num_packs, 4), dtype=np.int32)
    segments[:, 0] = pool_rows[tiles.pack_rep]
    segments[:, 1] = tiles.pack_start
    segments[:, 2] = tiles.pack_len
    segments[:, 3] = kv_offset[:-1]
    num_shared = tiles.num_shared_tiles
    tile_len = tiles.pack_len[tiles.tile_pack]
    tile_kv = kv_offset[tiles.tile_pack]
    config = tiles.tile_config
    num_tiles = config.shape[0]
    tile_cost = rule.token_cost[config]
    token_work = float(tile_len @ tile_cost)  # Σ span × token cost, per KV head
    # Chunk classes: a config, or its private tiles apart (ChunkRule.tile_classes).
    tile_class, num_classes, class_steps = rule.tile_classes(
        config, num_shared, tile_len, tile_cost, token_work
    )
    counts = ChunkCounts.of_tiles(
        tile_len,
        tiles.tile_count,
        tile_class,
        num_shared,
        num_classes,
        rule.first_candidate,
        rule.floor_candidate,
        rule.fine_private_chunks,
    )
    max_shared = int(tile_len[:num_shared].max(initial=0))
    max_tail = int(tile_len[num_shared:].max(initial=0))
    max_len = max(max_shared, max_tail)
    total_work = rule.num_kv_heads * (token_work + rule.item_overhead * num_tiles)
    class_chunk = rule.chunks(
        counts, counts.items, counts.member_chunks, max_len, total_work, max_tail
    )
    tile_chunk = np.asarray(class_chunk, dtype=np.int64)[tile_class]
    chunks = -(-tile_len // tile_chunk)

    # Short single-chunk tails of tile 0 are packed into the menu's tail tile, tail_members
    # per item, in runs of consecutive requests (their member rows must be contiguous).
    if rule.tail_members >= 2:  # tile 0's tails of one chunk (len ≤ its chunk), short enough
        tail_chunk0 = class_chunk[num_classes - rule.num_configs]  # class 0, or C when apart
        tail_len = tile_len[num_shared:]
        packable = (config[num_shared:] == 0) & (tail_len <= tail_chunk0)
        tail_max_len = rule.tail_max_len
        if max_tail > tail_max_len:  # longer tails may be packed too (ChunkRule)
            tail_max_len = rule.packed_tail_limit(tail_len, packable)
        tail_packed = packable & (tail_len <= tail_max_len)
        packed_tiles = tail_packed.nonzero()[0] + num_shared
    else:
        tail_max_len = 0
        tail_packed = np.zeros(num_tiles - num_shared, dtype=bool)
        packed_tiles = tail_packed.nonzero()[0]
    num_packed = packed_tiles.shape[0]
    if num_packed and packed_tiles[-1] - packed_tiles[0] == num_packed - 1:
        # One run of consecutive tiles (every tail short, the common case): groups of
        # tail_members from its start, the last one shorter.
        group_start = np.arange(0, num_packed, rule.tail_members)
        group_first = group_start + packed_tiles[0]
        group_size = np.minimum(num_packed - group_start, rule.tail_members)
        group_len = np.maximum.reduceat(
            tile_len[group_first[0] : group_first[0] + num_packed], group_start
        )
    elif num_packed:
        # p - i is constant along a run of consecutive tiles and grows between runs, so each
        # element's run starts at the first equal value.
        position = np.arange(num_packed)
        run_key = packed_tiles - position
        run_first = run_key.searchsorted(run_key, "left")
        group_start = (((position - run_first) % rule.tail_members) == 0).nonzero()[0]
        group_first = packed_tiles[group_start]
        group_size = np.empty_like(group_start)
        group_size[:-1] = group_start[1:] - group_start[:-1]
        group_size[-1] = num_packed - group_start[-1]
        group_len = np.maximum.reduceat(tile_len[packed_tiles], group_start)
    else:
        group_first = group_size = group_len = packed_tiles

    # Items, in the order programs take them: shared tiles' chunks by decreasing cost, then
    # the private tiles' full chunks, their last chunks, and the packed tails.
    if num_packed == num_tiles - num_shared:
        single_tails = packed_tiles[:0]  # every tail is packed
    elif num_packed == 0:
        single_tails = np.arange(num_shared, num_tiles)
    else:
        single_tails = (~tail_packed).nonzero()[0] + num_shared
    if int(chunks.max(initial=1)) == 1:
        # Every tile is one chunk (packed tails always are): an item per unpacked tile, the
        # shared ones by decreasing cost (stably), then the private ones in order.
        num_shared_items = num_shared
        shared_cost = tile_len[:num_shared] * tile_cost[:num_shared]
        item_tile = np.concatenate([(-shared_cost).argsort(kind="stable"), single_tails])
        item_kv, item_len, item_j = tile_kv[item_tile], tile_len[item_tile], 0
    else:
        num_shared_items = int(chunks[:num_shared].sum())  # shared tiles are never packed
        single = np.concatenate([np.arange(num_shared), single_tails])
        full = chunks - 1  # chunks before each tile's last
        full[packed_tiles] = 0
        num_full = int(full.sum())
        item_tile = np.concatenate([np.arange(num_tiles).repeat(full), single])
        item_j = np.concatenate(
            [np.arange(num_full) - _exclusive_cumsum(full)[:-1].repeat(full), full[single]]
        )
        item_start = item_j * tile_chunk[item_tile]
        item_len = np.minimum(tile_chunk[item_tile], tile_len[item_tile] - item_start)
        shared_cost = item_len * tile_cost[item_tile]
        # A stable sort puts shared items first by decreasing cost and keeps the tails' order.
        order = np.where(item_tile < num_shared, -shared_cost, np.inf).argsort(kind="stable")
        item_tile, item_j, item_len = item_tile[order], item_j[order], item_len[order]
        item_kv = tile_kv[item_tile] + item_start[order]
    num_single_items = item_tile.shape[0]
    items = np.empty((num_single_items + group_first.shape[0], 6), dtype=np.int32)
    items[:num_single_items, 0] = item_kv
    items[:num_single_items, 1] = item_len
    items[:num_single_items, 2] = tiles.tile_member_start[item_tile]
    items[:num_single_items, 3] = tiles.tile_count[item_tile]
    items[:num_single_items, 4] = item_j
    items[:num_single_items, 5] = config[item_tile]
    items[num_single_items:, 0] = 0
    items[num_single_items:, 1] = group_len
    items[num_single_items:, 2] = tiles.tile_member_start[group_first]
    items[num_single_items:, 3] = group_size
    items[num_single_items:, 4] = -1
    items[num_single_items:, 5] = rule.tail_tile

    # Slots: request r owns the partials of all chunks of all tiles it belongs to.
    num_requests = forest.num_requests
    req = tiles.members
    member_chunks = chunks.repeat(tiles.tile_count)
    members = np.zeros((req.shape[0], 4), dtype=np.int32)
    members[:, 0] = req
    packed_members = tiles.tile_member_start[packed_tiles]
    members[packed_members, 2] = tile_kv[packed_tiles]
    members[packed_members, 3] = tile_len[packed_tiles]
    partials = np.bincount(req, weights=member_chunks, minlength=num_requests).astype(np.int64)
    if partials.max(initial=0) <= 1:
        indptr = np.zeros(num_requests + 1, dtype=np.int64)
        members[:, 1] = -1
    else:
        multi = partials > 1
        indptr = _exclusive_cumsum(np.where(multi, partials, 0))
        shared_rows = req.shape[0] - (num_tiles - num_shared)  # then a row per private tile
        if np.bincount(req[:shared_rows], minlength=num_requests).max(initial=0) <= 1:
            # A request's shared row (at most one) takes its first slots, its private row
            # (its last row) the rest: no sort needed.
            slot = indptr[req]
            slot[shared_rows:] += partials[req[shared_rows:]] - member_chunks[shared_rows:]
            members[:, 1] = np.where(multi[req], slot, -1)
        else:
            # Sorted by request, the rows of requests with several partials take consecutive
            # slots.
            by_req = req.argsort(kind="stable")
            row_multi = multi[req[by_req]]
            row_slots = np.where(row_multi, member_chunks[by_req], 0)
            members[by_req, 1] = np.where(row_multi, row_slots.cumsum() - row_slots, -1)
    plan = PackPlan(
        segments=segments,
        items=items,
        members=members,
        req_partial_indptr=indptr.astype(np.int32),
        num_kv_indices=int(kv_offset[-1]),
        num_shared_items=num_shared_items,
    )
    if num_tiles - num_shared != num_requests:
        return plan, None  # a request without a tail gets one next step: no lazy update
    state = LazyState(
        forest=forest,
        pool_rows=pool_rows,
        plan=plan,
        tail_len=tile_len[num_shared:],
        tail_chunk=tile_chunk[num_shared:],
        tail_packed=tail_packed,
        tail_max_len=tail_max_len,
        tail_config_breaks=tail_config_breaks,
        class_chunk=class_chunk,
        counts=counts,
        max_shared=max_shared,
        max_tail=max_tail,
        tail_config=config[num_shared:],
        tail_class=tile_class[num_shared:],
        class_steady_steps=class_steps,
        total_work=total_work,
        tail_items_start=num_shared_items,
        tail_item_tiles=item_tile[num_shared_items:],
        num_shared_tiles=num_shared,
        num_packed_items=group_first.shape[0],
    )
    return plan, state
