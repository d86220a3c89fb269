"""PackScheduler: PrefixForest → PackPlan, on the CPU, once per decode step.

1. Decide, top-down, which shared nodes become packs (``decisions.PackDecider``: the byte-cost
   split of PAT §4.2 at every node).
2. Cut each pack into row tiles of ≤ max(block_m) rows (requests × GQA group) and give every
   tile the smallest tile of the menu that holds its rows.
3. Per tile config, pick one chunk length (a power-of-two multiple of block_n) so that no unit
   outlasts the whole launch's work spread over the programs, without paying too many
   partials; cut every tile's span into chunks.
4. Give each (request, tile chunk) a partial slot; a request with a single partial gets none.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from .chunking import ChunkRule
from .cost_model import CostModel, TileMenu, default_tile_menu
from .decisions import PackDecider
from .forest import PrefixForest
from .lazy import LazyState, lazy_update
from .lean_gate import PlanWork, plan_work
from .plan import PackPlan, PlanCapacity
from .scheduler_emit import TileTable, emit_plan


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
        min_shared_chunk_tokens: int | None = None,
        shared_units_per_sm: int | None = 1,
    ) -> None:
        if min(num_kv_heads, group_size, head_dim, num_sms) < 1:
            raise ValueError("num_kv_heads, group_size, head_dim and num_sms must be positive")
        self.num_kv_heads = num_kv_heads
        self.group_size = group_size
        self.menu = menu or default_tile_menu(head_dim, group_size)
        self.tiles = self.menu.tiles
        self.max_rows = self.tiles[-1].block_m
        self._tile_rows = np.asarray([t.block_m for t in self.tiles])
        if group_size > self.max_rows:
            raise ValueError(f"group_size {group_size} exceeds the largest tile ({self.max_rows})")
        self.cost = cost or CostModel()
        self.capacity = capacity
        self.num_programs = num_sms * self.menu.programs_per_sm
        # With the lean kernel: the shared part's programs with work when a plan splits, and
        # the private part's grid (cost_model.LeanKernel).
        lean = self.menu.lean
        self.num_shared_part_programs = num_sms * (lean.shared_programs_per_sm if lean else 0)
        self.num_private_part_programs = num_sms * (lean.programs_per_sm if lean else 0)
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
        # Private tails up to the menu's max_packed_tail tokens share its tail tile, its
        # rows / G at a time.
        tail = self.tiles[self.menu.tail_tile]
        tail_members = tail.block_m // group_size
        if tail_members < 2 or tail.block_n % tail_members:
            tail_members = 0
        self._rule = ChunkRule(
            np.asarray(self.token_cost),
            self.cost.item_overhead_bytes,
            num_kv_heads,
            self.partial_cost,
            self.num_programs,
            max_chunks_per_tile,
            tail_members,
            self.menu.max_packed_tail,
            self.menu.tail_tile,
            long_tail_max_len=self.menu.max_packed_long_tail,
            num_sms=num_sms,
            private_configs=frozenset(
                self._kv_options[int(self._config_for_rows[group_size])][1].tolist()
            ),
        )
        self.min_chunk_tokens = min_chunk_tokens  # sets the rule's candidate range
        self.min_shared_chunk_tokens = min_shared_chunk_tokens
        self.max_shared_units = shared_units_per_sm and shared_units_per_sm * num_sms
        self._decider = PackDecider(
            group_size=group_size,
            tiles=self.tiles,
            token_cost=self.token_cost,
            config_for_rows=self._config_for_rows,
            item_overhead=self.cost.item_overhead_bytes,
            partial_cost=self.partial_cost,
        )
        self._lazy: LazyState | None = None
        self.last_plan_was_lazy = False

    @property
    def min_chunk_tokens(self) -> int:
        """Shortest chunk a tile's span is cut into (rounded up to block_n · 2^k)."""
        return self._min_chunk_tokens

    @min_chunk_tokens.setter
    def min_chunk_tokens(self, tokens: int) -> None:
        self._min_chunk_tokens = tokens
        shortest = [  # per config: block_n doubled up to min_chunk_tokens
            c.block_n << max(0, (tokens - 1).bit_length() - (c.block_n - 1).bit_length())
            for c in self.tiles
        ]
        self._rule.set_shortest_chunks(shortest)
        self._lazy = None  # the candidates changed: the next plan is cold

    @property
    def min_shared_chunk_tokens(self) -> int | None:
        """Shortest chunk of a config with shared packs: the smallest candidate at least this
        long, or one chunk a span when none is. None: ``min_chunk_tokens``, as for every
        config (the default; benchmarks/experiments/chunks/plan_variants.py measures others)."""
        return self._rule.min_shared_chunk_tokens or None

    @min_shared_chunk_tokens.setter
    def min_shared_chunk_tokens(self, tokens: int | None) -> None:
        if tokens is not None and tokens < 1:
            raise ValueError(f"min_shared_chunk_tokens must be positive or None, got {tokens}")
        self._rule.min_shared_chunk_tokens = tokens or 0
        self._lazy = None  # the next plan is cold

    @property
    def private_tails_chunked_apart(self) -> bool:
        """Private tails are cut by the rule for private tails even in a tile config that
        also holds shared packs (``ChunkRule.tile_classes``; the default). False: a config's
        shared and private tiles share one chunk length, as before session 37."""
        return self._rule.private_tails_apart

    @private_tails_chunked_apart.setter
    def private_tails_chunked_apart(self, apart: bool) -> None:
        self._rule.private_tails_apart = apart
        self._lazy = None  # the next plan is cold

    @property
    def fine_private_chunks(self) -> bool:
        """Private-only chunk classes may also take chunks between the powers of two (1¼ and
        1½ times one, whole 128-token blocks: ``chunking``). On by default since session 41:
        on the H200 it took 0.939× the powers-of-two plans' time over 22 timed batches (five
        picked where those plans did worst; over 1% faster on 13, slower on 4, at worst
        1.075× on ``1,4_256,3000``, whose private tails queue behind shared units), and on the
        Mooncake conversation replay, served beside them, its decode part was 0.997×
        (``benchmarks/experiments/chunks/``, ``benchmarks/results/2026-12-02-NVIDIA-H200/
        session41.md``); served beside flashinfer in session 42, mean TPOT 1.002×. Known
        loss: no-sharing batches of 24 equal requests, 1.04-1.10× (session 42), whose one
        underfilled wave of whole requests ``chunk_cost.chunk_cost`` rounds up to a full wave;
        pricing that wave at its own pace took them back but lost 4-6% elsewhere
        (``benchmarks/experiments/chunks/one_wave.py``). It cost the lazy update 2-5 µs (no
        sharing, 256 requests) while the chunk choice ran in Python (before session 65).
        False: powers of two only."""
        return self._rule.fine_private_chunks

    @fine_private_chunks.setter
    def fine_private_chunks(self, fine: bool) -> None:
        self._rule.fine_private_chunks = fine
        self._lazy = None  # the candidates changed: the next plan is cold

    @property
    def max_shared_units(self) -> int | None:
        """Most shared units (shared tiles' chunks × KV heads) the chunk choice may make while
        a candidate allows; ``shared_units_per_sm`` (default 1) × the SMs, None: no cap.

        On the H200 (session 33, ``benchmarks/experiments/chunks/plan_variants.py``) the cost
        model's chunks that made more shared units than SMs were up to 38% slower than the
        next longer chunk: 8 requests sharing 8,192 tokens took 49.2 µs with 256 shared units
        and 30.9 with 128, gsp 4 × 32's batch 75.0 and 68.2; below one per SM it held.
        """
        return self._rule.max_shared_units or None

    @max_shared_units.setter
    def max_shared_units(self, units: int | None) -> None:
        if units is not None and units < 1:
            raise ValueError(f"max_shared_units must be positive or None, got {units}")
        self._rule.max_shared_units = units or 0
        self._lazy = None  # the next plan is cold

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

    def plan_work(self, plan: PackPlan) -> PlanWork:
        """The plan's shared and private work for the menu's lean-kernel gate (``lean_gate``)."""
        if self.menu.lean is None:
            raise ValueError("menu: has no lean kernel")
        return plan_work(
            plan.items,
            plan.num_shared_items,
            token_cost=self._rule.token_cost,
            item_overhead=self.cost.item_overhead_bytes,
            tile_rows=self._tile_rows,
            num_kv_heads=self.num_kv_heads,
            shared_programs=self.num_shared_part_programs,
            private_programs=self.num_private_part_programs,
        )

    # ------------------------------------------------------------------ tile configs

    def _configs_for(self, rows: int, spans: np.ndarray) -> np.ndarray:
        """Tile config of row tiles of ``rows`` rows over ``spans`` KV tokens."""
        block_ns, configs = self._kv_options[int(self._config_for_rows[rows])]
        if configs.shape[0] == 1:  # one block_n for these rows: no search
            return np.full(spans.shape, configs[0])
        pick = block_ns.searchsorted(spans, side="right") - 1
        return configs[np.maximum(pick, 0)]

    def _pack_tiles(self, num_members: int, span: int) -> list[tuple[int, int]]:
        """(members, config) of each row tile of a pack of ``num_members`` over ``span``."""
        tiles = []
        for count in self._decider.tiles_for(num_members):
            block_ns, configs = self._kv_lists[self._config_list[count * self.group_size]]
            tiles.append((count, configs[max(0, bisect.bisect_right(block_ns, span) - 1)]))
        return tiles

    def _plan_cold(
        self, forest: PrefixForest, pool_rows: np.ndarray
    ) -> tuple[PackPlan, LazyState | None]:
        packs, tail_start = self._decider.decide(forest)
        shared_tiles: list[int] = []  # flat (pack, member row, count, config)
        member_row = 0
        pack_tiles: dict[tuple[int, int], list[tuple[int, int]]] = {}  # sibling packs repeat
        pack_sizes = np.diff(packs.member_ptr).tolist()
        for pack, key in enumerate(zip(pack_sizes, (packs.end - packs.start).tolist())):
            tiles = pack_tiles.get(key)
            if tiles is None:
                tiles = pack_tiles[key] = self._pack_tiles(*key)
            for count, config in tiles:
                shared_tiles += (pack, member_row, count, config)
                member_row += count
        tails = forest.seq_lens - tail_start
        tiles = TileTable.build(
            packs, shared_tiles, tail_start, tails, self._configs_for(self.group_size, tails)
        )
        block_ns, _ = self._kv_options[int(self._config_for_rows[self.group_size])]
        plan, state = emit_plan(tiles, pool_rows, forest, self._rule, block_ns[1:])
        if self.capacity is not None:
            plan.check_fits(self.capacity)
        return plan, state
