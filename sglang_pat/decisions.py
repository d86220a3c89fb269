"""Which shared nodes become packs: PAT's split decision (§4.2) on the byte-cost model.

Top-down, at node u (span L tokens since the last pack above it, S members), the groups below
u (child subtrees and requests ending at u) are ordered largest first; the first k groups
re-read the span inside their own packs, the rest share one pack of u. k minimises the byte
cost of ``cost_model`` (reads, padding, items, partials); a pack left with one group is no
pack. Compiled by numba: as Python (with a memo of decisions) it was about a third of a cold
plan.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from .cost_model import TileConfig
from .forest import PrefixForest


class SharedPacks(NamedTuple):
    """The shared packs, in the order they were decided (preorder of their nodes)."""

    start: np.ndarray  # [P] first token of the pack's span in its requests' rows
    end: np.ndarray  # [P]
    member_ptr: np.ndarray  # [P + 1] pack p's requests are members[member_ptr[p]:member_ptr[p + 1]]
    members: np.ndarray  # batch indices, the pack's representative (the row read) first


_EMPTY = np.zeros(0, dtype=np.int64)
_NO_PACKS = SharedPacks(_EMPTY, _EMPTY, np.zeros(1, dtype=np.int64), _EMPTY)


class PackDecider:
    """The pack decisions for one model shape, with per-pack-size tile tables."""

    def __init__(
        self,
        *,
        group_size: int,
        tiles: tuple[TileConfig, ...],
        token_cost: list[float],
        config_for_rows: np.ndarray,
        item_overhead: float,
        partial_cost: float,
    ) -> None:
        self.group_size = group_size
        self.tiles = tiles
        self.max_rows = tiles[-1].block_m
        self.token_cost = token_cost
        self.config_for_rows = config_for_rows  # rows -> config index (see PackScheduler)
        self.item_overhead = item_overhead
        self.partial_cost = partial_cost
        self.tile_split: list[list[int]] = [[]]  # [n] member counts of the tiles of n members
        self.tile_cost = np.zeros(1)  # [n] Σ token cost of the tiles of n members
        self.tile_count = np.zeros(1, dtype=np.int64)  # [n] their number
        self.tile_marks = np.asarray([c.block_m // group_size for c in tiles], dtype=np.int64)

    def tiles_of(self, num_members: int) -> list[int]:
        """Member counts of the row tiles of a pack of ``num_members`` requests."""
        per_tile = self.max_rows // self.group_size
        count = -(-num_members // per_tile)
        base, extra = divmod(num_members, count)
        return [base + 1] * extra + [base] * (count - extra)

    def tiles_for(self, num_members: int) -> list[int]:
        """``tiles_of``, from the table (grown on demand)."""
        self._grow_tile_tables(num_members)
        return self.tile_split[num_members]

    def _grow_tile_tables(self, num_members: int) -> None:
        """Extend the per-pack-size tables (row tiles, Σ tile token costs) to ``num_members``."""
        first = len(self.tile_split)
        if num_members < first:
            return
        added = [self.tiles_of(n) for n in range(first, num_members + 1)]
        self.tile_split += added
        rows = self.config_for_rows
        cost = [sum(self.token_cost[rows[m * self.group_size]] for m in tiles) for tiles in added]
        self.tile_cost = np.concatenate([self.tile_cost, cost])
        self.tile_count = np.concatenate([self.tile_count, [len(tiles) for tiles in added]])

    def decide(self, forest: PrefixForest) -> tuple[SharedPacks, np.ndarray]:
        """The shared packs and each request's tail start (``_decide``)."""
        tail_start = forest.private_start()
        if forest.num_nodes == 0:
            return _NO_PACKS, tail_start
        self._grow_tile_tables(forest.num_requests)
        packs = _decide(
            forest.node_start, forest.node_end, forest.node_parent, forest.node_members,
            forest.req_node + 1, tail_start, self.tile_cost, self.tile_count, self.tile_marks,
            self.max_rows // self.group_size, self.item_overhead, self.partial_cost,
        )  # fmt: skip
        return SharedPacks(*packs), tail_start


@numba.njit(cache=True)
def _pull_decision(
    span, kid_sizes, singles, tile_cost, tile_count, tile_marks, per_tile, overhead, partial
):  # fmt: skip
    """How many groups re-read the span themselves: children (largest first), then singles.

    Pulling k groups costs their re-reads plus the pack of those staying; a pack of one
    group is no pack. Among the singles the cost is linear between the break points of the
    tiling (tile count or tile shape changes: ``_staying_marks``), so only those are
    evaluated."""
    total = kid_sizes.sum() + singles
    groups = kid_sizes.shape[0] + singles
    single_read = span * tile_cost[1] + tile_count[1] * overhead - overhead
    kid_reads = np.empty(kid_sizes.shape[0])  # each kid's own re-read
    best_k, best = groups, 0.0
    for k in range(kid_sizes.shape[0]):  # summed in order, as the costs compare exactly
        size = kid_sizes[k]
        kid_reads[k] = span * tile_cost[size] + tile_count[size] * overhead - overhead
        best += kid_reads[k]
    best += singles * single_read
    reads, pulled = 0.0, 0
    for k in range(kid_sizes.shape[0]):
        size = kid_sizes[k]
        if k < groups - 1:
            staying = total - pulled  # the pack of those staying: reads and partials
            cost = reads + (
                (span * tile_cost[staying] + tile_count[staying] * overhead) + staying * partial
            )
            if cost < best:
                best_k, best = k, cost
        reads += kid_reads[k]
        pulled += size
    if singles == 0:
        return best_k
    staying_max = total - pulled  # all children pulled, every single staying
    marks = _staying_marks(staying_max, tile_marks, per_tile)
    for staying in range(2, staying_max + 1):
        if marks[staying]:
            cost = reads + (staying_max - staying) * single_read
            cost += span * tile_cost[staying] + tile_count[staying] * overhead + staying * partial
            if cost < best:
                best_k, best = kid_sizes.shape[0] + staying_max - staying, cost
    return best_k


@numba.njit(cache=True)
def _staying_marks(staying_max, tile_marks, per_tile):
    """[staying_max + 1] True at the numbers of staying singles at which the tiling changes
    (tile count or tile shape), and one more: the cost of a pack is linear between them."""
    marks = np.zeros(max(staying_max + 2, 4), dtype=np.bool_)
    marks[staying_max] = marks[staying_max + 1] = marks[2] = marks[3] = True
    for mark in tile_marks:
        if mark <= staying_max:
            marks[mark] = marks[mark + 1] = True
    for mark in range(per_tile, staying_max + 1, per_tile):
        marks[mark] = marks[mark + 1] = True
    return marks[: staying_max + 1]


@numba.njit(cache=True)
def _decide(
    node_start, node_end, node_parent, node_members, req_slot, tail_start, tile_cost,
    tile_count, tile_marks, per_tile, overhead, partial,
):  # fmt: skip
    """``PackDecider.decide``: one pass in DFS preorder decides each node after its parent,
    moving pulled requests' tail starts up in ``tail_start`` (in place); returns the packs'
    spans and members (``SharedPacks``' fields).

    Sorted by their node's preorder, a subtree's requests are contiguous (requests sharing
    nothing first, a node's own requests before its children's), so the pass records member
    ranges ``[lo, lo + count)`` of that order, made into batch indices once it is known."""
    n, num_requests = node_start.shape[0], req_slot.shape[0]
    ending = np.zeros(n + 1, dtype=np.int64)  # requests ending at each node (0: at none)
    for slot in req_slot:
        ending[slot] += 1
    child_ptr = np.zeros(n + 1, dtype=np.int64)  # children in node order, CSR
    for node in range(n):
        if node_parent[node] >= 0:
            child_ptr[node_parent[node] + 1] += 1
    child_ptr = np.cumsum(child_ptr)
    children, filled = np.empty(n, dtype=np.int64), child_ptr[:-1].copy()
    stack, depth = np.empty(n, dtype=np.int64), 0
    for node in range(n - 1, -1, -1):  # roots pushed last first: popped in node order
        if node_parent[node] < 0:
            stack[depth] = node
            depth += 1
    for node in range(n):
        up = node_parent[node]
        if up >= 0:
            children[filled[up]] = node
            filled[up] += 1
    order_key = np.full(n + 1, -1, dtype=np.int64)
    lo = np.zeros(n, dtype=np.int64)
    span = node_start.copy()  # a child shares from its parent's end unless pulled
    # Packs as (start, end, first, count) and their whole-subtree kids; pulled singles as
    # (start, first, count).
    packs = np.empty((n, 4), dtype=np.int64)
    pack_kids_ptr, pack_kids = np.zeros(n + 1, dtype=np.int64), np.empty(n, dtype=np.int64)
    pulled_ranges = np.empty((n, 3), dtype=np.int64)
    num_packs = num_pulled = visited = 0
    taken = ending[0]
    while depth:
        depth -= 1
        node = stack[depth]
        visited += 1
        order_key[node + 1] = visited
        first = lo[node] = taken
        singles = ending[node + 1]
        taken += singles
        kids = children[child_ptr[node] : child_ptr[node + 1]].copy()
        for k in range(kids.shape[0] - 1, -1, -1):  # the next to visit: in node order
            stack[depth] = kids[k]
            depth += 1
        for k in range(1, kids.shape[0]):  # largest first, stable (insertion sort)
            kid, j = kids[k], k
            while j > 0 and node_members[kids[j - 1]] < node_members[kid]:
                kids[j] = kids[j - 1]
                j -= 1
            kids[j] = kid
        start, stop = span[node], node_end[node]
        pulled = _pull_decision(
            stop - start, node_members[kids], singles, tile_cost, tile_count, tile_marks,
            per_tile, overhead, partial,
        )  # fmt: skip
        staying = -1  # the whole subtree shares the pack
        if pulled:
            for child in kids[:pulled]:
                span[child] = start
            pulled_singles = pulled - kids.shape[0]
            if pulled_singles > 0:
                pulled_ranges[num_pulled, 0] = start
                pulled_ranges[num_pulled, 1] = first
                pulled_ranges[num_pulled, 2] = pulled_singles
                num_pulled += 1
            if pulled < kids.shape[0] + singles:
                staying = max(0, pulled_singles)
            else:
                continue
        packs[num_packs, 0], packs[num_packs, 1] = start, stop
        packs[num_packs, 2], packs[num_packs, 3] = first, node_members[node]
        kids_start = pack_kids_ptr[num_packs]
        if staying >= 0:
            packs[num_packs, 2], packs[num_packs, 3] = first + staying, singles - staying
            staying_kids = kids[pulled:]
            pack_kids[kids_start : kids_start + staying_kids.shape[0]] = staying_kids
            kids_start += staying_kids.shape[0]
        num_packs += 1
        pack_kids_ptr[num_packs] = kids_start
    # Children are visited after their parent: the order is known now (a counting sort by
    # preorder, stable: requests of one node stay in batch order).
    key_count = np.zeros(n + 3, dtype=np.int64)  # preorder keys -1 .. n, counted one over
    for r in range(num_requests):
        key_count[order_key[req_slot[r]] + 2] += 1
    key_count = np.cumsum(key_count)
    by_node = np.empty(num_requests, dtype=np.int64)
    for r in range(num_requests):
        key = order_key[req_slot[r]] + 1
        by_node[key_count[key]] = r
        key_count[key] += 1
    for i in range(num_pulled):
        start, first, count = pulled_ranges[i, 0], pulled_ranges[i, 1], pulled_ranges[i, 2]
        tail_start[by_node[first : first + count]] = start
    member_ptr = np.zeros(num_packs + 1, dtype=np.int64)
    for p in range(num_packs):
        size = packs[p, 3]
        for kid in pack_kids[pack_kids_ptr[p] : pack_kids_ptr[p + 1]]:
            size += node_members[kid]
        member_ptr[p + 1] = member_ptr[p] + size
    members = np.empty(member_ptr[num_packs], dtype=np.int64)
    for p in range(num_packs):
        at, first, count = member_ptr[p], packs[p, 2], packs[p, 3]
        members[at : at + count] = by_node[first : first + count]
        at += count
        for kid in pack_kids[pack_kids_ptr[p] : pack_kids_ptr[p + 1]]:
            members[at : at + node_members[kid]] = by_node[lo[kid] : lo[kid] + node_members[kid]]
            at += node_members[kid]
    return packs[:num_packs, 0].copy(), packs[:num_packs, 1].copy(), member_ptr, members
