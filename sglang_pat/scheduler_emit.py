"""Emission of the pack plan: the chunk counts and lengths (``chunking``, ``chunk_choice``),
then the rows (``emit_rows``), each compiled; the lazy update is in ``lazy``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chunking import ChunkCounts, ChunkRule
from .decisions import SharedPacks
from .emit_rows import emit_rows
from .forest import PrefixForest
from .lazy import LazyState
from .plan import PackPlan

# Array methods (``a.cumsum()``, ``a.nonzero()``, ``a.repeat()``, ``a.argsort()``) skip the
# dispatch of their ``np.`` functions: half a microsecond each, and a cold plan makes dozens.


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
        packs: SharedPacks,
        shared_tiles: list[int],
        tail_start: np.ndarray,
        tails: np.ndarray,
        private_config: np.ndarray,
    ) -> TileTable:
        """The shared packs, their tiles as flat ``pack, first member row, members, config``
        quadruples (a flat list: numpy converts it at half the cost of tuples), then one
        private tile per tail."""
        num_requests = tails.shape[0]
        private_reqs = tails.nonzero()[0]
        num_private = private_reqs.shape[0]
        if num_private < num_requests:  # else every request has a tail: no gathers
            tail_start, tails = tail_start[private_reqs], tails[private_reqs]
            private_config = private_config[private_reqs]
        shared = np.array(shared_tiles, dtype=np.int64).reshape(-1, 4)
        private_rows = np.arange(num_private)
        members = np.concatenate([packs.members, private_reqs])
        return cls(
            pack_start=np.concatenate([packs.start, tail_start]),
            pack_len=np.concatenate([packs.end - packs.start, tails]),
            pack_rep=np.concatenate([packs.members[packs.member_ptr[:-1]], private_reqs]),
            members=members,
            tile_pack=np.concatenate([shared[:, 0], packs.start.shape[0] + private_rows]),
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
    """Plan arrays from the tile table (this runs every cold step: a few numpy calls around
    the compiled chunk counts, chunk choice and rows)."""
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
    tile_chunk = class_chunk[tile_class]
    rows = emit_rows(
        tile_len,
        tile_kv,
        tile_chunk,
        config,
        tile_cost,
        tiles.tile_member_start,
        tiles.tile_count,
        tiles.members,
        num_shared=num_shared,
        num_requests=forest.num_requests,
        max_tail=max_tail,
        tail_members=rule.tail_members,
        tail_chunk0=class_chunk[num_classes - rule.num_configs],  # class 0, or C when apart
        tail_max_len=rule.tail_max_len,
        long_tail_max_len=rule.long_tail_max_len,
        num_kv_heads=rule.num_kv_heads,
        num_sms=rule.num_sms,
        tail_tile=rule.tail_tile,
    )
    plan = PackPlan(
        segments=segments,
        items=rows.items,
        members=rows.members,
        req_partial_indptr=rows.req_partial_indptr,
        num_kv_indices=int(kv_offset[-1]),
        num_shared_items=rows.num_shared_items,
    )
    if num_tiles - num_shared != forest.num_requests:
        return plan, None  # a request without a tail gets one next step: no lazy update
    state = LazyState(
        forest=forest,
        pool_rows=pool_rows,
        plan=plan,
        tail_len=tile_len[num_shared:],
        tail_chunk=tile_chunk[num_shared:],
        tail_packed=rows.tail_packed,
        tail_max_len=rows.tail_max_len,
        tail_config_breaks=tail_config_breaks,
        class_chunk=class_chunk,
        counts=counts,
        max_shared=max_shared,
        max_tail=max_tail,
        tail_config=config[num_shared:],
        tail_class=tile_class[num_shared:],
        class_steady_steps=class_steps,
        total_work=total_work,
        tail_items_start=rows.num_shared_items,
        tail_item_tiles=rows.tail_item_tiles,
        num_shared_tiles=num_shared,
        num_packed_items=rows.num_packed_items,
    )
    return plan, state
