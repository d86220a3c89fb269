"""Chunk lengths per chunk class: exact chunk counts over the candidate lengths, kept exact while
the private tails grow one token a step (so the lazy update makes the cold plan's choice).

A chunk class is a tile config (class c), or a config's private tiles (class C + c) when the
private tiles hold most of the launch's work: private tails are then cut by the rule for private
tails even where a small shared pack takes their tile config (``ChunkRule.tile_classes``).

Cutting a config's tiles into chunks of length c makes Σ_tiles ⌈len / c⌉ items and
Σ_tiles members · ⌈len / c⌉ partials. Those counts decide the chunk (``chunk_cost.chunk_cost``
rounds the work up to whole waves of the longest unit, so an estimate from Σ len alone picks
badly whenever a few tiles decide the wave count: small batches, spans of whole chunks).

Candidates are powers of two; with ``ChunkRule.fine_private_chunks`` also, between two powers
p and 2p, the multiples of ``FINE_CHUNK_GRANULE`` at 1¼ p and 1½ p, which private-only classes
may take (shared classes keep the powers). Whole waves of the longest unit leave a small
batch's one-wave plan up to twice too long between powers: on the H200, 640 or 768 tokens took
``1,3_256,6000`` 38.4 -> 35.0 µs and ``1,7_256,3000`` 40.8 -> 38.6 against 1,024
(``benchmarks/experiments/chunks/fine_chunks.py``, session 38).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from .chunk_choice import class_chunks

# Fine candidates are whole blocks of the private tails' KV tile (block_n 128 at head_dim 128,
# a multiple of the 32 at 256), so a chunk's units load no partial block but the last.
FINE_CHUNK_GRANULE = 128


@dataclass
class ChunkCounts:
    """Per chunk class and candidate chunk length: Σ ⌈len / c⌉ and Σ members · ⌈len / c⌉
    (int64 arrays, as the compiled chunk choice takes them)."""

    candidates: np.ndarray  # [K] ascending: powers of two (and fine ones); the last holds all spans
    items: np.ndarray  # [L, K] (L chunk classes)
    member_chunks: np.ndarray  # [L, K]
    shared_items: np.ndarray  # [L, K] the shared tiles' items alone (tails do not grow them)
    tiles: np.ndarray  # [L] tiles per class
    members: np.ndarray  # [L] Σ members per class
    shared_tiles: np.ndarray  # [L] tiles of shared packs per class
    active: np.ndarray  # classes with tiles, those with shared tiles first (chunked first)
    powers: np.ndarray  # indices of the powers of two among the candidates (all, unless fine)

    @classmethod
    def of_tiles(
        cls,
        tile_len: np.ndarray,
        tile_members: np.ndarray,
        tile_class: np.ndarray,
        num_shared: int,
        num_classes: int,
        first: int,
        last: int,
        fine: bool = False,
    ) -> ChunkCounts:
        """Counts for tiles (shared ones first, ``num_shared`` of them) by chunk class, over
        the candidates from ``first`` (a power of two) to the power of two holding every span,
        at least ``last`` (``fine``: with the fine candidates between them)."""
        longest = max(int(tile_len.max(initial=1)), last, first)
        count = (longest - 1).bit_length() - (first - 1).bit_length() + 1
        lengths, scales, powers = _candidates(first, count, fine)
        items, totals, active = _class_counts(
            tile_len, tile_members, tile_class, num_shared, num_classes, scales
        )
        return cls(
            lengths.copy(),  # a plan's own arrays: the cached ones are shared
            items[:num_classes],
            items[num_classes : 2 * num_classes],
            items[2 * num_classes :],
            totals[:num_classes],
            totals[num_classes : 2 * num_classes],
            totals[2 * num_classes :],
            active,
            powers.copy(),
        )


@numba.njit(cache=True)
def _class_counts(tile_len, tile_members, tile_class, num_shared, num_classes, scales):
    """``ChunkCounts.of_tiles``' sums, compiled (a cold plan's largest numpy part before):
    items [3L, K] (per class Σ ⌈len / c⌉, Σ members · ⌈len / c⌉, the shared tiles' Σ ⌈len / c⌉
    per candidate c), totals [3L] (tiles, members, shared tiles) and the active classes.

    ⌈len / c⌉ is ⌈len · s⌉ in float64 with s = (1 / c)(1 - 2^-40): exact for len + c < 2^39
    (the product stays below an integer quotient and above the floor of any other), and
    cheaper than int64 division; the last scale is 2^-60, whose ⌈len · s⌉ = 1 counts the
    tiles and members."""
    num_candidates = scales.shape[0] - 1
    sums = np.zeros((3 * num_classes, num_candidates + 1), dtype=np.int64)
    for t in range(tile_len.shape[0]):
        c, members, length = tile_class[t], tile_members[t], tile_len[t]
        for k in range(num_candidates + 1):
            chunks = math.ceil(scales[k] * length)
            sums[c, k] += chunks
            sums[num_classes + c, k] += members * chunks
            if t < num_shared:
                sums[2 * num_classes + c, k] += chunks
    active = np.empty(num_classes, dtype=np.int64)  # with tiles, those with shared ones first
    count = 0
    for shared in (True, False):
        for c in range(num_classes):
            if sums[c, -1] and (sums[2 * num_classes + c, -1] > 0) == shared:
                active[count] = c
                count += 1
    return sums[:, :-1].copy(), sums[:, -1].copy(), active[:count]


@functools.cache
def _candidates(first: int, count: int, fine: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate chunk lengths ``first · 2^k`` (k < count), with ``fine`` also the
    multiples of FINE_CHUNK_GRANULE at 1¼ and 1½ times each but the last; their scales, then
    2^-60 (see ``ChunkCounts.of_tiles``); and the indices of the powers of two among them.
    Cached: the arrays are shared, not to be written."""
    lengths: list[int] = []
    for k in range(count):
        power = first << k
        lengths.append(power)
        if fine and k + 1 < count:
            lengths += [c for c in (power * 5 // 4, power * 3 // 2) if c % FINE_CHUNK_GRANULE == 0]
    scales = [(1.0 / length) * (1.0 - 2.0**-40) for length in lengths] + [2.0**-60]
    powers = [k for k, length in enumerate(lengths) if not length & (length - 1)]
    return np.asarray(lengths, dtype=np.int64), np.asarray(scales), np.asarray(powers, np.int64)


_ALWAYS = 1 << 62  # lazy steps: no limit


class TileClasses(NamedTuple):
    """``ChunkRule.tile_classes``: each tile's chunk class, and what depends on them."""

    tile_class: np.ndarray  # [T]
    num_classes: int  # C, or 2C with the private tiles apart (config c's in class C + c)
    steady_steps: int  # lazy steps before the classes would change (the tails outgrow)


@dataclass
class ChunkRule:
    """Emission rules: per-config costs, the chunk choice's settings and the packing of short
    tails."""

    token_cost: np.ndarray  # [C] bytes-equivalent per KV token per KV head
    item_overhead: float
    num_kv_heads: int
    partial_cost: float  # one more partial of one request (CostModel.partial_cost)
    num_programs: int  # the pack kernel's programs, which pull its units from one queue
    max_chunks_per_tile: int
    tail_members: int  # requests per packed-tail item (the tail tile's rows / G); < 2: none
    tail_max_len: int  # tails up to this long are packed
    tail_tile: int  # the menu tile of the packed-tail items
    # Tails up to this long are packed where the packed items leave each SM a unit at least
    # (``emit_rows._tail_max_len``); ≤ tail_max_len: never.
    long_tail_max_len: int = 0
    num_sms: int = 0
    # Shared units (shared tiles' items × KV heads, all configs with shared packs together)
    # that the chunks may make, while a candidate allows it; 0: no cap (PackScheduler's
    # ``max_shared_units``).
    max_shared_units: int = 0
    # Private tiles get chunk classes of their own where they hold most of the launch's work
    # (``tile_classes``); False: one class per config, as before session 37.
    private_tails_apart: bool = True
    # The configs a private tile can take (one request's rows: the menu's smallest tile that
    # holds them, at each of its KV tile sizes).
    private_configs: frozenset[int] = frozenset()
    # Private-only classes may also take the fine candidates (module docstring); False: powers
    # of two only, the default before session 41 (PackScheduler.fine_private_chunks).
    fine_private_chunks: bool = True
    # Shortest chunk of a class with shared packs: the smallest candidate at least this long
    # (PackScheduler.min_shared_chunk_tokens); 0: the config's shortest chunk, as any class.
    min_shared_chunk_tokens: int = 0

    def __post_init__(self) -> None:
        self.num_configs = self.token_cost.shape[0]
        self.set_shortest_chunks([1] * self.num_configs)
        # [C, 2] a config's chunk as a shared and as a private-only class, whatever the cost
        # model picks (0: chosen); it must be a candidate. For profiling: profile_pat.py.
        self.forced = np.zeros((self.num_configs, 2), dtype=np.int64)

    def set_shortest_chunks(self, shortest: list[int]) -> None:
        """Each config's shortest chunk (``PackScheduler.min_chunk_tokens``: block_n doubled up
        to it), and from them the candidates' range: from the shortest of all
        (``first_candidate``) to at least the longest (``floor_candidate``)."""
        self.shortest_chunk = np.asarray(shortest, dtype=np.int64)
        self.first_candidate, self.floor_candidate = min(shortest), max(shortest)

    def tile_classes(
        self,
        config: np.ndarray,
        num_shared: int,
        tile_len: np.ndarray,
        tile_cost: np.ndarray,
        token_work: float,
    ) -> TileClasses:
        """Chunk class of each tile (shared tiles first): its config, plus C for a private tile
        when the private tiles hold most of the launch's work (Σ span × token cost).

        One chunk length per config cut private tails by the shared packs' rule wherever a
        pack of a few requests took their config. In the Mooncake replay's batches of 3-4
        requests (about 260 tokens shared by all, 3,000 each in private tails) that doubled
        their items and partials: 35-49 µs a layer against 25-38 with the tails chunked
        apart (H200, ``benchmarks/experiments/chunks/tails_apart.py``), and the replay's
        steps there ran 5-6% over flashinfer's (sessions 30 and 37). Where shared packs hold
        most of the work (gsp defaults' batch: 2,048-token packs of 1-10 requests beside
        178-token tails and a few whole prompts), the private units queue behind theirs and
        the shared rule's longer chunks did better: chunked apart, that plan took 207.5 µs
        against 203.4.
        """
        num_configs = self.num_configs
        if (
            not self.private_tails_apart
            or num_shared == config.shape[0]
            or self.private_configs.isdisjoint(config[:num_shared].tolist())
        ):  # one class per config (where no config holds both kinds, the same plan)
            return TileClasses(config, num_configs, _ALWAYS)
        shared_work = float(tile_len[:num_shared] @ tile_cost[:num_shared])
        private_work = token_work - shared_work
        if private_work > shared_work:
            tile_class = config.copy()
            tile_class[num_shared:] += num_configs
            return TileClasses(tile_class, 2 * num_configs, _ALWAYS)
        # Each lazy step adds a token to every tail: once the private work would outgrow the
        # shared work, a cold plan chunks them apart (the lazy update stops a step early, for
        # rounding).
        growth = float(tile_cost[num_shared:].sum())
        return TileClasses(config, num_configs, max(1, int((shared_work - private_work) // growth)))

    def chunks(
        self,
        counts: ChunkCounts,
        items: np.ndarray,
        member_chunks: np.ndarray,
        max_len: int,
        total_work: float,
        max_tail: int,
    ) -> np.ndarray:
        """Chunk length per chunk class (0 for a class without tiles), from the counts'
        candidates, ``items`` and ``member_chunks`` ([L, K]: the cold plan's, or grown by a
        lazy update); ``max_len``: the longest span, ``max_tail`` the longest private tail
        (``chunk_choice.class_chunks``)."""
        return class_chunks(
            counts.candidates, counts.powers, items, member_chunks, counts.shared_items,
            counts.tiles, counts.members, counts.shared_tiles, counts.active, max_len,
            total_work, max_tail, *self.choice_settings(),
        )  # fmt: skip

    def choice_settings(self) -> tuple:
        """``class_chunks``' arguments that are this rule's settings, in its order."""
        return (
            self.token_cost, self.shortest_chunk, self.forced, self.item_overhead,
            self.partial_cost, self.num_programs, self.num_kv_heads, self.max_chunks_per_tile,
            self.min_shared_chunk_tokens, self.max_shared_units,
        )  # fmt: skip
