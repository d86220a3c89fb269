"""Chunk lengths per tile config: exact chunk counts over the candidate lengths, kept exact while
the private tails grow one token a step (so the lazy update makes the cold plan's choice).

Cutting a config's tiles into chunks of length c makes Σ_tiles ⌈len / c⌉ items and
Σ_tiles members · ⌈len / c⌉ partials. Those counts decide the chunk (``CostModel.chunk_cost``
rounds the work up to whole waves of the longest unit, so an estimate from Σ len alone picks
badly whenever a few tiles decide the wave count: small batches, spans of whole chunks).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# (config, longest span, candidates, items per candidate, partials per candidate, tiles,
#  members, private tails only, total work) -> chunk length
ChooseChunk = Callable[[int, int, list[int], list[int], list[int], int, int, bool, float], int]


@dataclass
class ChunkCounts:
    """Per config and candidate chunk length: Σ ⌈len / c⌉ and Σ members · ⌈len / c⌉."""

    candidates: list[int]  # [K] powers of two, ascending; the last holds every span
    items: np.ndarray  # [C, K]
    member_chunks: np.ndarray  # [C, K]
    tiles: np.ndarray  # [C] tiles per config
    members: np.ndarray  # [C] Σ members per config
    shared_tiles: np.ndarray  # [C] tiles of shared packs per config

    @classmethod
    def of_tiles(
        cls,
        tile_len: np.ndarray,
        tile_members: np.ndarray,
        config: np.ndarray,
        num_shared: int,
        num_configs: int,
        first: int,
        last: int,
    ) -> ChunkCounts:
        """Counts for tiles (shared ones first, ``num_shared`` of them) over the candidates
        from ``first`` to the power of two holding every span, at least ``last``."""
        longest = max(int(tile_len.max(initial=1)), last, first)
        count = (longest - 1).bit_length() - (first - 1).bit_length() + 1
        lengths = first << np.arange(count, dtype=np.int64)
        per_tile = -(-tile_len[:, None] // lengths[None, :])  # [T, K]
        of_config = (config[None, :] == np.arange(num_configs)[:, None]).astype(np.int64)
        weighted = of_config * tile_members[None, :]
        return cls(
            lengths.tolist(),
            of_config @ per_tile,
            weighted @ per_tile,
            of_config.sum(axis=1),
            weighted.sum(axis=1),
            of_config[:, :num_shared].sum(axis=1),
        )


@dataclass
class TailGrowth:
    """How the private tails' share of ``ChunkCounts`` grows when every tail gains a token.

    A tail of length l₀ + s has ⌈(l₀ + s) / c⌉ = ⌈l₀ / c⌉ + s // c + [r + s % c ≥ c] chunks,
    r = (l₀ − 1) mod c, so per config and candidate the sorted residues give the count at any
    step by bisection (private tiles have one member: partials grow like items).
    """

    base: ChunkCounts
    configs: list[int]  # configs that hold private tails
    tails: list[int]  # tails per such config
    residues: list[list[list[int]]]  # [config][candidate] sorted residues

    @classmethod
    def of_tails(cls, base: ChunkCounts, tail_len: np.ndarray, tail_config: np.ndarray):
        configs = np.unique(tail_config).tolist()
        residues, tails = [], []
        for c in configs:
            lens = tail_len[tail_config == c] - 1
            tails.append(int(lens.shape[0]))
            residues.append([np.sort(lens % k).tolist() for k in base.candidates])
        return cls(base, configs, tails, residues)

    def at_step(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, member_chunks) [C, K] once every tail has grown by ``step`` tokens."""
        grown = np.zeros_like(self.base.items)
        for c, count, by_candidate in zip(self.configs, self.tails, self.residues):
            row = grown[c]
            for k, (length, residues) in enumerate(zip(self.base.candidates, by_candidate)):
                whole, part = divmod(step, length)
                row[k] = count * whole + (
                    count - bisect.bisect_left(residues, length - part) if part else 0
                )
        return self.base.items + grown, self.base.member_chunks + grown


@dataclass
class ChunkRule:
    """Emission rules: per-config costs, the chunk choice and the packing of short tails."""

    token_cost: np.ndarray  # [C] bytes-equivalent per KV token per KV head
    item_overhead: float
    num_kv_heads: int
    choose: ChooseChunk
    first_candidate: int  # shortest chunk any config may take
    floor_candidate: int  # the longest of the configs' shortest chunks
    tail_members: int  # requests per packed-tail item (tile 0's rows / G); < 2: no packing
    tail_max_len: int  # tails up to this long are packed

    def chunks(
        self,
        counts: ChunkCounts,
        items: np.ndarray,
        member_chunks: np.ndarray,
        max_len: int,
        total_work: float,
    ) -> np.ndarray:
        """Chunk length per config (0 for a config without tiles)."""
        chunk = np.zeros(items.shape[0], dtype=np.int64)
        tiles, members = counts.tiles.tolist(), counts.members.tolist()
        shared = counts.shared_tiles.tolist()
        for c in np.flatnonzero(counts.tiles).tolist():
            chunk[c] = self.choose(
                c,
                max_len,
                counts.candidates,
                items[c].tolist(),
                member_chunks[c].tolist(),
                tiles[c],
                members[c],
                shared[c] == 0,
                total_work,
            )
        return chunk
