"""ChunkChoice: the chunk length of one tile config, from its exact chunk counts.

``chunking.ChunkRule`` counts, for each candidate chunk length, the items and partials a config
would make; this picks the candidate that ``CostModel.chunk_cost`` prices cheapest (the
scheduler's step 3). Its settings are the scheduler's: ``PackScheduler.min_chunk_tokens`` sets
``shortest_chunk``, ``PackScheduler.min_shared_chunk_tokens`` the shared floor.
"""

from __future__ import annotations

import bisect
import math

from .cost_model import CostModel


class ChunkChoice:
    """``ChunkRule.choose`` for one scheduler: cost model, per-config token costs, GPU size."""

    def __init__(
        self,
        cost: CostModel,
        token_cost: list[float],
        partial_cost: float,
        *,
        num_programs: int,
        num_kv_heads: int,
        max_chunks_per_tile: int,
    ) -> None:
        self.cost = cost
        self.token_cost = token_cost
        self.partial_cost = partial_cost
        self.num_programs = num_programs
        self.num_kv_heads = num_kv_heads
        self.max_chunks_per_tile = max_chunks_per_tile
        self.shortest_chunk: list[int] = []  # per config: block_n doubled to min_chunk_tokens
        self.min_shared_chunk_tokens: int | None = None

    def __call__(
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
        queued: tuple[int, float],
        capped: int = 0,
    ) -> int:
        """Chunk length for one config from its exact chunk counts (see ``chunking``).

        Minimises ``CostModel.chunk_cost`` over the candidates (``ChunkRule.chunks`` gives a
        class with shared packs the powers of two only) from the config's shortest chunk up to
        the longest span: for shared packs up to where it starts to grow (it is unimodal), for
        private tails all that may be cheaper (``private_chunk``: the cost counts whole
        waves of the longest unit, so it is not monotone). ``items[k]`` / ``member_chunks[k]``:
        the config's items and partials when cut at ``candidates[k]``; ``queued``: (count,
        longest) of the shared units that a private-only config's units wait behind
        (``CostModel.queue_wait``); ``capped``: the shortest chunk that keeps the shared units
        within ``PackScheduler.max_shared_units`` (0: none does, or no cap).
        """
        chunk = max(self.shortest_chunk[config], capped)
        shared_floor = self.min_shared_chunk_tokens
        if not private_only and shared_floor is not None and chunk < shared_floor:
            floor = next((c for c in candidates if c >= shared_floor), None)
            chunk = max(chunk, floor or candidates[-1])  # none: one chunk holds every span
        while -(-max_len // chunk) > self.max_chunks_per_tile:
            chunk *= 2
        k = candidates.index(chunk)
        if private_only:
            wait = (0.0, 0)
            if queued[0]:
                wait = self.cost.queue_wait(*queued, self.num_programs)
            return self.private_chunk(
                config, max_len, candidates, items, member_chunks, tiles, members, k, total_work,
                wait,
            )  # fmt: skip
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
                False,
                items[k] * self.num_kv_heads,
                (0.0, 0),
            )
            if value <= best:  # a tie goes to the longer chunk: fewer items and partials
                best_chunk, best = chunk, value
            else:  # unimodal: past the crossing the longest unit only grows
                return best_chunk
            if chunk >= max_len:
                return best_chunk
            k += 1
            chunk = candidates[k]

    def private_chunk(
        self,
        config: int,
        max_len: int,
        candidates: list[int],
        items: list[int],
        member_chunks: list[int],
        tiles: int,
        members: int,
        first: int,
        total_work: float,
        wait: tuple[float, int],
    ) -> int:
        """``__call__`` for a private-only config: the cheapest of the candidates from
        ``candidates[first]`` to the first that holds ``max_len`` (the longest tail), a tie
        going to the longer chunk. Its cost is not monotone (whole waves of the longest unit),
        but it never goes under the spread work (``CostModel.chunk_spread``), which only grows
        as the chunks get shorter: taken longest first, the candidates stop where the spread
        reaches the best cost, usually after a few of the dozen fine ones."""
        cost = self.cost
        last = bisect.bisect_left(candidates, max_len, first)
        best_chunk, best = candidates[last], math.inf
        for k in range(last, first - 1, -1):
            extra_items, extra_partials = items[k] - tiles, member_chunks[k] - members
            spread = cost.chunk_spread(
                extra_items,
                extra_partials,
                self.partial_cost,
                total_work,
                self.num_programs,
                self.num_kv_heads,
                True,
            )
            if spread >= best:
                return best_chunk
            value = cost.chunk_cost(
                candidates[k],
                max_len,
                extra_items,
                extra_partials,
                self.token_cost[config],
                self.partial_cost,
                total_work,
                self.num_programs,
                self.num_kv_heads,
                True,
                items[k] * self.num_kv_heads,
                wait,
            )
            if value < best:
                best_chunk, best = candidates[k], value
        return best_chunk
