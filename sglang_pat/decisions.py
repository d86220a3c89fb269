"""Which shared nodes become packs: PAT's split decision (§4.2) on the byte-cost model.

Top-down, at node u (span L tokens since the last pack above it, S members), the groups below
u (child subtrees and requests ending at u) are ordered largest first; the first k groups
re-read the span inside their own packs, the rest share one pack of u. k minimises the byte
cost of ``cost_model`` (reads, padding, items, partials); a pack left with one group is no
pack.
"""

from __future__ import annotations

import numpy as np

from .cost_model import TileConfig
from .forest import PrefixForest


class PackDecider:
    """The pack decisions for one model shape, with per-pack-size tile tables and a memo of
    decisions (siblings and consecutive steps ask the same questions)."""

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
        self.tile_cost: list[float] = [0.0]  # [n] Σ token cost of the tiles of n members
        self.tile_count: list[int] = [0]
        self.tile_split: list[list[int]] = [[]]  # [n] member counts of the tiles of n members
        self.decisions: dict[tuple[int, ...], int] = {}
        self.tile_marks = [c.block_m // group_size for c in tiles]  # tile shape changes
        self._staying_marks: dict[int, list[int]] = {}  # staying_max -> staying_marks()

    def tiles_of(self, num_members: int) -> list[int]:
        """Member counts of the row tiles of a pack of ``num_members`` requests."""
        per_tile = self.max_rows // self.group_size
        count = -(-num_members // per_tile)
        base, extra = divmod(num_members, count)
        return [base + 1] * extra + [base] * (count - extra)

    def tiles_for(self, num_members: int) -> list[int]:
        """``tiles_of``, from the table (grown on demand)."""
        if num_members >= len(self.tile_split):
            self._grow_tile_tables(num_members)
        return self.tile_split[num_members]

    def _grow_tile_tables(self, num_members: int) -> None:
        """Extend the per-pack-size tables (row tiles, Σ tile token costs) to ``num_members``."""
        while num_members >= len(self.tile_cost):
            tiles = self.tiles_of(len(self.tile_cost))
            self.tile_split.append(tiles)
            self.tile_cost.append(
                sum(self.token_cost[self.config_for_rows[m * self.group_size]] for m in tiles)
            )
            self.tile_count.append(len(tiles))

    def _remember(self, key: tuple[int, ...], span: int, kid_sizes: list[int], singles: int) -> int:
        """``pull_decision``, stored in the memo under ``key`` = ``(span, singles, *kid_sizes)``
        (cleared when full): siblings and consecutive steps repeat the same question, so
        ``decide`` reads the memo first."""
        if len(self.decisions) >= 65536:
            self.decisions.clear()
        pulled = self.decisions[key] = self.pull_decision(span, kid_sizes, singles)
        return pulled

    def pull_decision(self, span: int, kid_sizes: list[int], singles: int) -> int:
        """How many groups re-read the span themselves: children (largest first), then singles.

        Pulling k groups costs their re-reads plus the pack of those staying; a pack of one
        group is no pack. Among the singles the cost is linear between the break points of
        the tiling (tile count or tile shape changes), so only those are evaluated.
        """
        total = sum(kid_sizes) + singles
        if total >= len(self.tile_cost):
            self._grow_tile_tables(total)
        tile_cost, tile_count = self.tile_cost, self.tile_count
        overhead, partial = self.item_overhead, self.partial_cost

        def read(members: int) -> float:  # reading the span in a pack of ``members``: its tiles
            return span * tile_cost[members] + tile_count[members] * overhead

        def pack(staying: int) -> float:  # the pack of those staying: reads and partials
            return read(staying) + staying * partial

        groups = len(kid_sizes) + singles
        single_read = read(1) - overhead
        kid_reads = [read(size) - overhead for size in kid_sizes]  # each kid's own re-read
        best_k = groups
        best = float(sum(kid_reads)) + singles * single_read
        reads, pulled = 0.0, 0
        for k, size in enumerate(kid_sizes):
            if k < groups - 1:
                cost = reads + pack(total - pulled)
                if cost < best:
                    best_k, best = k, cost
            reads += kid_reads[k]
            pulled += size
        if singles == 0:
            return best_k
        staying_max = total - pulled  # all children pulled, every single staying
        marks = self._staying_marks.get(staying_max)
        if marks is None:
            marks = self._staying_marks[staying_max] = self.staying_marks(staying_max)
        for staying in marks:  # pack(staying), inline: this loop is most of a cold decision
            cost = reads + (staying_max - staying) * single_read
            cost += span * tile_cost[staying] + tile_count[staying] * overhead + staying * partial
            if cost < best:
                best_k, best = len(kid_sizes) + staying_max - staying, cost
        return best_k

    def staying_marks(self, staying_max: int) -> list[int]:
        """The numbers of staying singles (2 .. ``staying_max``, ascending) at which the
        tiling changes (tile count or tile shape), and one more: the cost of a pack is
        linear between them."""
        per_tile = self.max_rows // self.group_size
        marks = {staying_max, 2, *self.tile_marks}
        marks.update(range(per_tile, staying_max + 1, per_tile))
        return [s for s in sorted(marks | {m + 1 for m in marks}) if 2 <= s <= staying_max]

    def decide(self, forest: PrefixForest) -> tuple[list[tuple[int, int, np.ndarray]], np.ndarray]:
        """Shared packs ``(span_start, span_end, members)`` and each request's tail start."""
        n = forest.num_nodes
        tail_start = forest.private_start()
        if n == 0:
            return [], tail_start
        req_slot = forest.req_node + 1  # 0: the request shares nothing
        parent = forest.node_parent.tolist()
        end = forest.node_end.tolist()
        members = forest.node_members.tolist()
        ending = np.bincount(req_slot, minlength=n + 1).tolist()  # [1 + n] requests ending there
        children: list[list[int]] = [[] for _ in range(n)]
        roots: list[int] = []
        for node, up in enumerate(parent):
            (children[up] if up >= 0 else roots).append(node)
        # One pass in DFS preorder decides each node after its parent. Sorted by their node's
        # preorder, a subtree's requests are contiguous (requests sharing nothing first, a
        # node's own requests before its children's), so the pass records member ranges
        # ``[lo, lo + count)`` of that order, made into arrays once it is known.
        order_key = [-1] * (n + 1)
        visited = 0
        lo = [0] * n
        taken = ending[0]
        span = forest.node_start.tolist()  # a child shares from its parent's end unless pulled
        decisions = self.decisions
        # (span start, span end, first, count, kids): the pack's requests are ``count`` from
        # ``first`` in that order, then the whole subtrees of ``kids``.
        pack_ranges: list[tuple[int, int, int, int, list[int]]] = []
        pulled_ranges: list[tuple[int, int, int]] = []  # (start, lo, count) of pulled singles
        stack = roots[::-1]
        while stack:
            node = stack.pop()
            visited += 1
            order_key[node + 1] = visited
            first = lo[node] = taken
            singles = ending[node + 1]
            taken += singles
            kids = children[node]
            start, stop = span[node], end[node]
            if kids:
                if len(kids) > 1:
                    kids = sorted(kids, key=members.__getitem__, reverse=True)  # stable
                sizes = [members[c] for c in kids]
                key = (stop - start, singles, *sizes)
                stack.extend(reversed(children[node]))
            else:
                sizes = kids
                key = (stop - start, singles)
            pulled = decisions.get(key)  # the memo (``_remember``): most nodes hit it
            if pulled is None:
                pulled = self._remember(key, stop - start, sizes, singles)
            if pulled == 0:  # the whole subtree shares the pack
                pack_ranges.append((start, stop, first, members[node], []))
                continue
            for child in kids[:pulled]:
                span[child] = start
            pulled_singles = pulled - len(kids)
            if pulled_singles > 0:
                pulled_ranges.append((start, first, pulled_singles))
            if pulled < len(kids) + singles:
                staying = max(0, pulled_singles)
                pack_ranges.append((start, stop, first + staying, singles - staying, kids[pulled:]))
        # Children are visited after their parent: their ranges are known now.
        by_node = np.asarray(order_key)[req_slot].argsort(kind="stable")
        for start, first, count in pulled_ranges:
            tail_start[by_node[first : first + count]] = start
        packs = []
        for start, stop, first, count, kids in pack_ranges:
            pack_members = by_node[first : first + count]
            if kids:
                parts = [by_node[lo[c] : lo[c] + members[c]] for c in kids]
                pack_members = np.concatenate([pack_members, *parts])
            packs.append((start, stop, pack_members))
        return packs, tail_start
