"""The lazy update: the next decode step's plan from the last one when every request only grew
by one token (the common step), identical to a cold plan of that step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chunking import ChunkCounts, ChunkRule
from .forest import PrefixForest
from .plan import PackPlan
from .tail_growth import TailGrowth


@dataclass
class LazyState:
    """What the lazy update needs from the last plan: its inputs and its private tiles.

    Private tiles' items come last (single-tail items, then packed-tail items), their members
    and segments are the last R rows, so the update is a few slice additions.
    """

    forest: PrefixForest
    pool_rows: np.ndarray
    plan: PackPlan
    tail_len: np.ndarray  # [R] private tails at the cold plan (R = requests, all with a tail)
    tail_chunk: np.ndarray  # [R] chunk length of each private tile
    tail_packed: np.ndarray  # [R] bool: the tail is read by a packed-tail item
    tail_max_len: int  # the longest tail the cold plan packed (emit_rows._tail_max_len)
    tail_config_breaks: np.ndarray  # lengths at which a private tile changes config
    class_chunk: np.ndarray  # [L] chunk length chosen per chunk class
    counts: ChunkCounts  # of the cold plan's tiles
    max_shared: int  # longest shared tile span
    max_tail: int  # longest private tail at the cold plan
    tail_config: np.ndarray  # [R] config of each private tile
    tail_class: np.ndarray  # [R] chunk class of each private tile
    class_steady_steps: int  # lazy steps the chunk classes hold for (TileClasses)
    total_work: float
    tail_items_start: int  # first item row of the private tiles
    tail_item_tiles: np.ndarray  # per single-tail item row: its tile (private ones follow shared)
    num_shared_tiles: int
    num_packed_items: int
    steps: int = 0  # lazy updates since the cold plan
    steps_valid: int | None = None  # first lazy step a tail's length rules out (see below)
    growth: TailGrowth | None = None  # built at the first lazy step
    deltas: _LazyDeltas | None = None  # built at the first lazy step

    def first_invalid_step(self) -> int:
        """The first lazy step s (tails t0 + s long) at which a tail's own length forbids the
        update: a tail whose last chunk was full (t0 + s − 1 ≡ 0 mod its chunk), a length
        at a config break (t0 + s = break), a packed tail longer than the cold plan's limit
        (``tail_max_len``), or tails whose work outgrows the shared tiles'
        (``ChunkRule.tile_classes``)."""
        t0 = self.tail_len
        first = 1 + int(((-t0) % self.tail_chunk).min(initial=1 << 62))
        ahead = self.tail_config_breaks[None, :] - t0[:, None]
        first = min(first, int(ahead[ahead >= 1].min(initial=first)))
        packed = t0[self.tail_packed]
        first = min(first, self.class_steady_steps)
        return min(first, max(1, self.tail_max_len + 1 - int(packed.max(initial=-(1 << 62)))))


def _same_structure(a: PrefixForest, b: PrefixForest) -> bool:
    for name in ("req_node", "node_start", "node_end", "node_parent", "node_rep"):
        x, y = getattr(a, name), getattr(b, name)
        if x is not y and not np.array_equal(x, y):
            return False
    return True


def lazy_update(
    state: LazyState, forest: PrefixForest, pool_rows: np.ndarray, rule: ChunkRule
) -> PackPlan | None:
    """The cold plan of a batch whose requests each grew by one token, or None if it differs.

    Holds when the forest and pool rows are unchanged: pack decisions never look at tail
    lengths; a tail keeps its tile config unless its length crosses a menu break, its chunk
    count unless its last chunk was full, its packing unless it outgrows the packed length,
    and the chunk lengths are recomputed here. (Arrays are compared as bytes: all int64.)
    """
    old = state.forest
    if (
        forest.seq_lens.shape != old.seq_lens.shape
        or (forest.seq_lens - 1).tobytes() != old.seq_lens.tobytes()
        or pool_rows.tobytes() != state.pool_rows.tobytes()
        or not _same_structure(forest, old)
    ):
        return None
    if state.steps_valid is None:  # once per cold plan; later steps compare two ints
        state.steps_valid = state.first_invalid_step()
        state.growth = TailGrowth.of_tails(state.counts, state.tail_len, state.tail_class)
        state.deltas = _LazyDeltas.of_state(state, rule)
    step = state.steps + 1
    max_len = max(state.max_shared, state.max_tail + step)
    if step >= state.steps_valid or max_len > state.counts.candidates[-1]:
        return None  # a tail's own length forbids it, or a longer chunk becomes a candidate
    assert state.growth is not None and state.deltas is not None
    deltas = state.deltas
    total_work = state.total_work + deltas.work
    if not state.growth.chunks_hold(
        step, rule, state.class_chunk, max_len, total_work, state.max_tail + step
    ):
        return None
    prev = state.plan
    members = prev.members if deltas.members is None else prev.members + deltas.members
    num_tails = state.tail_len.shape[0]
    items = prev.items + deltas.items
    segments = prev.segments + deltas.segments
    plan = PackPlan(
        segments=segments,
        items=items,
        members=members,
        req_partial_indptr=prev.req_partial_indptr,
        num_kv_indices=prev.num_kv_indices + num_tails,
        num_shared_items=prev.num_shared_items,
    )
    state.forest, state.plan, state.steps = forest, plan, step
    state.total_work = total_work
    return plan


@dataclass
class _LazyDeltas:
    """What one lazy step adds to the plan arrays (built at the first lazy step), in the
    arrays' own shapes: one contiguous add per array (a strided add into the tail rows'
    columns costs several times as much)."""

    items: np.ndarray  # [I, 6]: (kv_start, kv_len) of the tail items
    segments: np.ndarray  # [S, 4]: (length, kv_offset) of the tail segments
    members: np.ndarray | None  # [M, 4]: (kv_start, kv_len) of packed tail members, if any
    work: float  # to the total work

    @classmethod
    def of_state(cls, state: LazyState, rule: ChunkRule) -> _LazyDeltas:
        plan = state.plan
        num_tails = state.tail_len.shape[0]
        rank = np.arange(num_tails, dtype=np.int32)
        packed_rows = state.num_packed_items
        items = np.zeros_like(plan.items)
        tail_items = items[state.tail_items_start :]
        single_rows = tail_items.shape[0] - packed_rows
        # earlier tails each grew by one: a tail item moves by its tile's rank among the tails
        tail_items[:single_rows, 0] = state.tail_item_tiles - state.num_shared_tiles
        num_last = num_tails - int(state.tail_packed.sum())  # each unpacked tail's last chunk
        tail_items[single_rows - num_last :, 1] = 1  # last chunks and packed tails
        segments = np.zeros_like(plan.segments)
        segments[-num_tails:, 2] = 1
        segments[-num_tails:, 3] = rank
        members = None
        if packed_rows:
            packed = state.tail_packed
            members = np.zeros_like(plan.members)
            members[-num_tails:, 2] = np.where(packed, rank, 0)
            members[-num_tails:, 3] = packed
        config_tails = np.bincount(state.tail_config, minlength=rule.token_cost.shape[0])
        work = rule.num_kv_heads * float(config_tails @ rule.token_cost)
        return cls(items, segments, members, work)
