"""PackScheduler: PrefixForest → PackPlan, on the CPU, once per decode step.

1. Decide, top-down, which shared nodes become packs. At node u (span L tokens since the last
   pack above it, S members), the groups below u (child subtrees and requests ending at u) are
   ordered largest first; the first k groups re-read the span inside their own packs, the rest
   share one pack of u. k minimises the byte cost of ``cost_model`` (reads, padding, items,
   partials); a pack left with one group is no pack.
2. Cut each pack into row tiles of ≤ max(block_m) rows (requests × GQA group) and give every
   tile the smallest tile of the menu that holds its rows.
3. Per tile config, pick one chunk length (a power-of-two multiple of block_n) so that no unit
   outlasts the whole launch's work spread over the programs, without paying too many
   partials; cut every tile's span into chunks.
4. Give each (request, tile chunk) a partial slot; a request with a single partial gets none.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from .chunking import ChunkRule
from .cost_model import CostModel, TileMenu, default_tile_menu
from .forest import PrefixForest
from .plan import PackPlan, PlanCapacity
from .scheduler_emit import LazyState, TileTable, emit_plan, lazy_update


class PackScheduler:
    """Plans decode steps for one model shape on one GPU (see the module docstring)."""

    def __init__(
        self,
        *,
        num_kv_heads: int,
        group_size: int,
        head_dim: int,
        num_sms: int,
        v_head_dim: int | None = None,
        kv_elem_bytes: int = 2,
        menu: TileMenu | None = None,
        cost: CostModel | None = None,
        capacity: PlanCapacity | None = None,
        max_chunks_per_tile: int = 32,
        min_chunk_tokens: int = 256,
        max_packed_tail: int = 256,
    ) -> None:
        if min(num_kv_heads, group_size, head_dim, num_sms) < 1:
            raise ValueError("num_kv_heads, group_size, head_dim and num_sms must be positive")
        self.num_kv_heads = num_kv_heads
        self.group_size = group_size
        self.menu = menu or default_tile_menu(head_dim)
        self.tiles = self.menu.tiles
        self.max_rows = self.tiles[-1].block_m
        if group_size > self.max_rows:
            raise ValueError(f"group_size {group_size} exceeds the largest tile ({self.max_rows})")
        self.cost = cost or CostModel()
        self.capacity = capacity
        self.max_chunks_per_tile = max_chunks_per_tile
        self.num_programs = num_sms * self.menu.programs_per_sm
        self.token_cost = [
            self.cost.token_cost(c.block_m, head_dim, kv_elem_bytes) for c in self.tiles
        ]
        self.partial_cost = self.cost.partial_cost(group_size, v_head_dim or head_dim)
        # rows -> config index: smallest block_m holding the rows, its smallest block_n.
        self._config_for_rows = np.zeros(self.max_rows + 1, dtype=np.int64)
        for rows in range(self.max_rows, 0, -1):
            self._config_for_rows[rows] = min(
                i for i, c in enumerate(self.tiles) if c.block_m >= rows
            )
        # Configs sharing a block_m differ in block_n: a span takes the largest block_n it fills.
        self._kv_options: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for base in set(self._config_for_rows[1:].tolist()):
            same_m = [i for i, c in enumerate(self.tiles) if c.block_m == self.tiles[base].block_m]
            same_m.sort(key=lambda i: self.tiles[i].block_n)
            self._kv_options[base] = (
                np.asarray([self.tiles[i].block_n for i in same_m], dtype=np.int64),
                np.asarray(same_m, dtype=np.int64),
            )
        self._config_list: list[int] = self._config_for_rows.tolist()  # the same, as lists
        self._kv_lists = {b: (n.tolist(), c.tolist()) for b, (n, c) in self._kv_options.items()}
        # Private tails up to max_packed_tail tokens share tile 0, tile 0's rows / G at a time.
        first = self.tiles[0]
        tail_members = first.block_m // group_size
        if tail_members < 2 or first.block_n % tail_members:
            tail_members = 0
        self._rule = ChunkRule(
            np.asarray(self.token_cost),
            self.cost.item_overhead_bytes,
            num_kv_heads,
            self._choose_chunk,
            0,
            0,
            tail_members,
            max_packed_tail,
        )
        self.min_chunk_tokens = min_chunk_tokens  # sets the rule's candidate range
        self._tile_cost: list[float] = [0.0]  # [n] Σ token cost of the tiles of n members
        self._tile_count: list[int] = [0]
        self._tile_split: list[list[int]] = [[]]  # [n] member counts of the tiles of n members
        self._decisions: dict[tuple[int, ...], int] = {}
        self._lazy: LazyState | None = None
        self.last_plan_was_lazy = False

    @property
    def min_chunk_tokens(self) -> int:
        """Shortest chunk a tile's span is cut into (rounded up to block_n · 2^k)."""
        return self._min_chunk_tokens

    @min_chunk_tokens.setter
    def min_chunk_tokens(self, tokens: int) -> None:
        self._min_chunk_tokens = tokens
        self._shortest_chunk = [  # per config: block_n doubled up to min_chunk_tokens
            c.block_n << max(0, (tokens - 1).bit_length() - (c.block_n - 1).bit_length())
            for c in self.tiles
        ]
        self._rule.first_candidate = min(self._shortest_chunk)
        self._rule.floor_candidate = max(self._shortest_chunk)
        self._lazy = None  # the candidates changed: the next plan is cold

    # ------------------------------------------------------------------ public

    def plan(self, forest: PrefixForest, req_pool_indices: Sequence[int] | np.ndarray) -> PackPlan:
        """Plan one step; reuses the previous plan when every request only grew by one token."""
        pool_rows = np.asarray(req_pool_indices, dtype=np.int64)
        if pool_rows.shape != (forest.num_requests,):
            raise ValueError(
                f"req_pool_indices has shape {pool_rows.shape}, expected ({forest.num_requests},)"
            )
        if self._lazy is not None:
            plan = lazy_update(self._lazy, forest, pool_rows, self._rule)
            if plan is not None and self.capacity is not None:
                plan.check_fits(self.capacity)
            if plan is not None:
                self.last_plan_was_lazy = True
                return plan
        self.last_plan_was_lazy = False
        plan, self._lazy = self._plan_cold(forest, pool_rows)
        return plan

    def plan_cold(
        self, forest: PrefixForest, req_pool_indices: Sequence[int] | np.ndarray
    ) -> PackPlan:
        """Plan from scratch, ignoring (and replacing) the previous step."""
        self._lazy = None
        return self.plan(forest, req_pool_indices)

    # ------------------------------------------------------------------ decisions

    def _configs_for(self, rows: int, spans: np.ndarray) -> np.ndarray | int:
        """Tile config of row tiles of ``rows`` rows over ``spans`` KV tokens (an int when
        every span gets the same, as when ``rows`` fit one menu tile of one block_n)."""
        block_ns, configs = self._kv_options[int(self._config_for_rows[rows])]
        if configs.shape[0] == 1:
            return int(configs[0])
        pick = block_ns.searchsorted(spans, side="right") - 1
        return configs[np.maximum(pick, 0)]

    def _tiles_of(self, num_members: int) -> list[int]:
        """Member counts of the row tiles of a pack of ``num_members`` requests."""
        per_tile = self.max_rows // self.group_size
        count = -(-num_members // per_tile)
        base, extra = divmod(num_members, count)
        return [base + 1] * extra + [base] * (count - extra)

    def _read_cost(self, num_members: int, span: int) -> float:
        """Cost of reading a span for a pack of ``num_members``: Σ over its tiles, O(1)."""
        if num_members >= len(self._tile_cost):
            self._grow_tile_tables(num_members)
        return (
            span * self._tile_cost[num_members]
            + self._tile_count[num_members] * self.cost.item_overhead_bytes
        )

    def _grow_tile_tables(self, num_members: int) -> None:
        """Extend the per-pack-size tables (row tiles, Σ tile token costs) to ``num_members``."""
        while num_members >= len(self._tile_cost):
            tiles = self._tiles_of(len(self._tile_cost))
            self._tile_split.append(tiles)
            self._tile_cost.append(
                sum(self.token_cost[self._config_for_rows[m * self.group_size]] for m in tiles)
            )
            self._tile_count.append(len(tiles))

    def _pack_cost(self, staying: int, span: int) -> float:
        return self._read_cost(staying, span) + staying * self.partial_cost if staying else 0.0

    def _groups_to_pull(self, span: int, kid_sizes: list[int], singles: int) -> int:
        """Memoised ``_pull_decision``: siblings and consecutive steps repeat the same question."""
        key = (span, singles, *kid_sizes)
        pulled = self._decisions.get(key)
        if pulled is None:
            if len(self._decisions) >= 65536:
                self._decisions.clear()
            pulled = self._decisions[key] = self._pull_decision(span, kid_sizes, singles)
        return pulled

    def _pull_decision(self, span: int, kid_sizes: list[int], singles: int) -> int:
        """How many groups re-read the span themselves: children (largest first), then singles.

        Pulling k groups costs their re-reads plus the pack of those staying; a pack of one
        group is no pack. Among the singles the cost is linear between the break points of
        the tiling (tile count or tile shape changes), so only those are evaluated.
        """
        groups = len(kid_sizes) + singles
        total = sum(kid_sizes) + singles
        single_read = self._read_cost(1, span) - self.cost.item_overhead_bytes
        best_k, best = (
            groups,
            float(
                sum(
                    self._read_cost(size, span) - self.cost.item_overhead_bytes
                    for size in kid_sizes
                )
            )
            + singles * single_read,
        )
        reads, pulled = 0.0, 0
        for k, size in enumerate(kid_sizes):
            if k < groups - 1:
                cost = reads + self._pack_cost(total - pulled, span)
                if cost < best:
                    best_k, best = k, cost
            reads += self._read_cost(size, span) - self.cost.item_overhead_bytes
            pulled += size
        if singles == 0:
            return best_k
        staying_max = total - pulled  # all children pulled, every single staying
        per_tile = self.max_rows // self.group_size
        marks = {staying_max, 2}
        marks.update(c.block_m // self.group_size for c in self.tiles)
        marks.update(range(per_tile, staying_max + 1, per_tile))
        for staying in sorted(marks | {m + 1 for m in marks}):
            if 2 <= staying <= staying_max:
                k = len(kid_sizes) + staying_max - staying
                cost = reads + (staying_max - staying) * single_read
                cost += self._pack_cost(staying, span)
                if cost < best:
                    best_k, best = k, cost
        return best_k

    def _decide(self, forest: PrefixForest) -> tuple[list[tuple[int, int, np.ndarray]], np.ndarray]:
        """Shared packs ``(span_start, span_end, members)`` and each request's tail start."""
        n = forest.num_nodes
        tail_start = forest.private_start()
        if n == 0:
            return [], tail_start
        parent = forest.node_parent.tolist()
        end = forest.node_end.tolist()
        members = forest.node_members.tolist()
        req_slot = forest.req_node + 1  # 0: the request shares nothing
        ending = np.bincount(req_slot, minlength=n + 1).tolist()  # [1 + n] requests ending there
        children: list[list[int]] = [[] for _ in range(n)]
        roots: list[int] = []
        for node, up in enumerate(parent):
            (children[up] if up >= 0 else roots).append(node)
        # DFS preorder: a subtree's requests are contiguous once sorted by their node's order,
        # requests sharing nothing first; a node's own requests come before its children's.
        # ``members`` counts a subtree's requests, so each range follows from a running count.
        order_key = [-1] * (n + 1)
        lo = [0] * n
        order: list[int] = []
        taken = ending[0]
        stack = roots[::-1]
        while stack:
            node = stack.pop()
            order_key[node + 1] = len(order)
            order.append(node)
            lo[node] = taken
            taken += ending[node + 1]
            stack.extend(reversed(children[node]))
        by_node = np.asarray(order_key)[req_slot].argsort(kind="stable")

        span = [0] * n
        packs: list[tuple[int, int, np.ndarray]] = []
        for node in order:
            start, stop, first = span[node], end[node], lo[node]
            kids = children[node]
            if len(kids) > 1:
                kids = sorted(kids, key=members.__getitem__, reverse=True)  # stable
            singles = ending[node + 1]
            pulled = self._groups_to_pull(stop - start, [members[c] for c in kids], singles)
            for rank, child in enumerate(kids):
                span[child] = start if rank < pulled else stop
            pulled_singles = pulled - len(kids)
            if pulled_singles > 0:
                tail_start[by_node[first : first + pulled_singles]] = start
            if pulled == 0:  # the whole subtree shares the pack
                packs.append((start, stop, by_node[first : first + members[node]]))
            elif pulled < len(kids) + singles:
                parts = [by_node[first + max(0, pulled_singles) : first + singles]]
                parts += [by_node[lo[c] : lo[c] + members[c]] for c in kids[pulled:]]
                packs.append((start, stop, np.concatenate(parts)))
        return packs, tail_start

    # ------------------------------------------------------------------ chunking

    def _choose_chunk(
        self,
        config: int,
        max_len: int,
        candidates: list[int],
        items: list[int],
        member_chunks: list[int],
        tiles: int,
        members: int,
        private_only: bool,
        total_work: float,
    ) -> int:
        """Chunk length for one config from its exact chunk counts (see ``chunking``).

        Minimises ``CostModel.chunk_cost`` over the power-of-two multiples of block_n up to the
        longest span, all of them: for private tails the cost counts whole waves of the longest
        unit, so it is not monotone. ``items[k]`` / ``member_chunks[k]``: the config's items
        and partials when cut at ``candidates[k]``.
        """
        chunk = self._shortest_chunk[config]
        while -(-max_len // chunk) > self.max_chunks_per_tile:
            chunk *= 2
        k = candidates.index(chunk)
        best_chunk, best = chunk, math.inf
        while True:
            value = self.cost.chunk_cost(
                chunk,
                max_len,
                items[k] - tiles,
                member_chunks[k] - members,
                self.token_cost[config],
                self.partial_cost,
                total_work,
                self.num_programs,
                self.num_kv_heads,
                private_only,
            )
            if value <= best:  # a tie goes to the longer chunk: fewer items and partials
                best_chunk, best = chunk, value
            elif not private_only:  # unimodal: past the crossing the longest unit only grows
                return best_chunk
            if chunk >= max_len:
                return best_chunk
            chunk, k = chunk * 2, k + 1

    def _plan_cold(
        self, forest: PrefixForest, pool_rows: np.ndarray
    ) -> tuple[PackPlan, LazyState | None]:
        packs, tail_start = self._decide(forest)
        shared_packs: list[tuple[int, int, int]] = []  # (start, length, representative)
        shared_tiles: list[tuple[int, int, int, int]] = []  # (pack, member row, count, config)
        member_row = 0
        for pack, (start, end, pack_members) in enumerate(packs):
            size = len(pack_members)
            shared_packs.append((start, end - start, int(pack_members[0])))
            if size >= len(self._tile_split):
                self._grow_tile_tables(size)
            for count in self._tile_split[size]:
                block_ns, configs = self._kv_lists[self._config_list[count * self.group_size]]
                config = configs[max(0, bisect.bisect_right(block_ns, end - start) - 1)]
                shared_tiles.append((pack, member_row, count, config))
                member_row += count
        tails = forest.seq_lens - tail_start
        tiles = TileTable.build(
            shared_packs,
            [pack_members for _, _, pack_members in packs],
            shared_tiles,
            tail_start,
            tails,
            self._configs_for(self.group_size, tails),
        )
        block_ns, _ = self._kv_options[int(self._config_for_rows[self.group_size])]
        plan, state = emit_plan(tiles, pool_rows, forest, self._rule, block_ns[1:])
        if self.capacity is not None:
            plan.check_fits(self.capacity)
        return plan, state
