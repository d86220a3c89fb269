"""Chunk lengths per chunk class: exact chunk counts over the candidate lengths, kept exact while
the private tails grow one token a step (so the lazy update makes the cold plan's choice).

A chunk class is a tile config (class c), or a config's private tiles (class C + c) when the
private tiles hold most of the launch's work: private tails are then cut by the rule for private
tails even where a small shared pack takes their tile config (``ChunkRule.tile_classes``).

Cutting a config's tiles into chunks of length c makes Σ_tiles ⌈len / c⌉ items and
Σ_tiles members · ⌈len / c⌉ partials. Those counts decide the chunk (``CostModel.chunk_cost``
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .cost_model import longest_unit_cost

# Fine candidates are whole blocks of the private tails' KV tile (block_n 128 at head_dim 128,
# a multiple of the 32 at 256), so a chunk's units load no partial block but the last.
FINE_CHUNK_GRANULE = 128

# (config, longest span, candidates, items per candidate, partials per candidate, tiles,
#  members, private tails only, total work, (shared units, longest shared unit), shortest
#  chunk the shared units' cap allows (0: any)) -> chunk length
ChooseChunk = Callable[
    [int, int, list[int], list[int], list[int], int, int, bool, float, tuple[int, float], int],
    int,
]


@dataclass
class ChunkCounts:
    """Per chunk class and candidate chunk length: Σ ⌈len / c⌉ and Σ members · ⌈len / c⌉ (Python
    lists: the lazy update reads them every step, a few at a time)."""

    candidates: list[int]  # [K] ascending: powers of two (and fine ones), the last holds every span
    items: list[list[int]]  # [L][K] (L chunk classes)
    member_chunks: list[list[int]]  # [L][K]
    shared_items: list[list[int]]  # [L][K] the shared tiles' items alone (tails do not grow them)
    tiles: list[int]  # [L] tiles per class
    members: list[int]  # [L] Σ members per class
    shared_tiles: list[int]  # [L] tiles of shared packs per class
    active: list[int]  # classes with tiles, those with shared tiles first (chunked first)
    powers: list[int]  # indices of the powers of two among the candidates (all, unless fine)

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
        # ⌈len / c⌉ as ⌈len · s⌉ in float64, s = (1 / c)(1 - 2^-40): exact for len + c < 2^39
        # (the product stays below an integer quotient and above the floor of any other), and
        # cheaper than int64 division, as is the float matmul that sums it per config (this
        # runs every cold plan). The last scale is 2^-60: its row is ⌈len · 2^-60⌉ = 1, so the
        # sums also count each class's tiles and members. Arrays are [K, T], not [T, K]:
        # numpy's loops run along the last axis, and K is a handful.
        num_tiles = tile_len.shape[0]
        per_tile = scales[:, None] * tile_len  # [K + 1, T]
        np.ceil(per_tile, out=per_tile)
        weights = np.empty((3 * num_classes, num_tiles))  # [3L, T]: tiles, members, shared tiles
        np.equal(tile_class, _column_range(num_classes), out=weights[:num_classes])
        np.multiply(weights[:num_classes], tile_members, out=weights[num_classes : 2 * num_classes])
        weights[2 * num_classes :, :num_shared] = weights[:num_classes, :num_shared]
        weights[2 * num_classes :, num_shared:] = 0.0
        sums = weights @ per_tile.T
        rows = sums.astype(np.int64).tolist()  # [3L, K + 1]
        items = [row[:-1] for row in rows]
        tiles = [row[-1] for row in rows[:num_classes]]
        shared_tiles = [row[-1] for row in rows[2 * num_classes :]]
        return cls(
            list(lengths),  # a plan's own list: the cached tuple is shared
            items[:num_classes],
            items[num_classes : 2 * num_classes],
            items[2 * num_classes :],
            tiles,
            [row[-1] for row in rows[num_classes : 2 * num_classes]],
            shared_tiles,
            [c for c in range(num_classes) if tiles[c] and shared_tiles[c]]
            + [c for c in range(num_classes) if tiles[c] and not shared_tiles[c]],
            list(powers),
        )


@functools.cache
def _candidates(
    first: int, count: int, fine: bool
) -> tuple[tuple[int, ...], np.ndarray, tuple[int, ...]]:
    """The candidate chunk lengths ``first · 2^k`` (k < count), with ``fine`` also the
    multiples of FINE_CHUNK_GRANULE at 1¼ and 1½ times each but the last; their scales, then
    2^-60 (see ``ChunkCounts.of_tiles``); and the indices of the powers of two among them.
    Cached, so the sequences are tuples."""
    lengths: list[int] = []
    for k in range(count):
        power = first << k
        lengths.append(power)
        if fine and k + 1 < count:
            lengths += [c for c in (power * 5 // 4, power * 3 // 2) if c % FINE_CHUNK_GRANULE == 0]
    scales = [(1.0 / length) * (1.0 - 2.0**-40) for length in lengths] + [2.0**-60]
    powers = tuple(k for k, length in enumerate(lengths) if not length & (length - 1))
    return tuple(lengths), np.asarray(scales), powers


@functools.cache
def _column_range(size: int) -> np.ndarray:
    """``[size, 1]``: 0 .. size - 1 as a column, to compare against a row of configs."""
    return np.arange(size)[:, None]


_ALWAYS = 1 << 62  # lazy steps: no limit


class TileClasses(NamedTuple):
    """``ChunkRule.tile_classes``: each tile's chunk class, and what depends on them."""

    tile_class: np.ndarray  # [T]
    num_classes: int  # C, or 2C with the private tiles apart (config c's in class C + c)
    steady_steps: int  # lazy steps before the classes would change (the tails outgrow)


@dataclass
class ChunkRule:
    """Emission rules: per-config costs, the chunk choice and the packing of short tails."""

    token_cost: np.ndarray  # [C] bytes-equivalent per KV token per KV head
    item_overhead: float
    num_kv_heads: int
    choose: ChooseChunk
    first_candidate: int  # shortest chunk any config may take
    floor_candidate: int  # the longest of the configs' shortest chunks
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

    def __post_init__(self) -> None:
        self.token_cost_list: list[float] = self.token_cost.tolist()  # for the per-step loop
        self.num_configs = self.token_cost.shape[0]

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
        items: list[list[int]],
        member_chunks: list[list[int]],
        max_len: int,
        total_work: float,
        max_tail: int,
    ) -> list[int]:
        """Chunk length per chunk class (0 for a class without tiles). Classes with shared
        packs come first (``counts.active``'s order): private-only classes' units queue behind
        theirs. A private-only class's spans are tails of at most ``max_tail`` tokens, so its
        longest unit and its candidates stop there (``max_len``, the longest span of all, would
        charge chunks longer than any tail as if their units were that long)."""
        chunk = [0] * len(items)
        shared_units, shared_longest = 0, 0.0
        cap_left = self.max_shared_units
        # Classes with shared packs see the powers of two only (their chunks were measured
        # at those); private-only classes every candidate, the fine ones too.
        powers = counts.powers
        fine = len(powers) < len(counts.candidates)
        for c in counts.active:
            config = c % self.num_configs
            private_only = counts.shared_tiles[c] == 0
            candidates, class_items = counts.candidates, items[c]
            class_partials, shared_items = member_chunks[c], counts.shared_items[c]
            if fine and not private_only:
                candidates = [candidates[k] for k in powers]
                class_items = [class_items[k] for k in powers]
                class_partials = [class_partials[k] for k in powers]
                shared_items = [shared_items[k] for k in powers]
            capped = 0
            if self.max_shared_units and not private_only:  # shortest candidate in the cap
                fits = (
                    length
                    for length, units in zip(candidates, shared_items)
                    if units * self.num_kv_heads <= cap_left
                )
                capped = next(fits, 0)
            chunk[c] = self.choose(
                config,
                max_tail if private_only else max_len,
                candidates,
                class_items,
                class_partials,
                counts.tiles[c],
                counts.members[c],
                private_only,
                total_work,
                (shared_units, shared_longest),
                capped,
            )
            if not private_only:
                k = candidates.index(chunk[c])
                cap_left = max(0, cap_left - shared_items[k] * self.num_kv_heads)
                shared_units += class_items[k] * self.num_kv_heads
                longest = longest_unit_cost(
                    chunk[c], max_len, self.token_cost_list[config], self.item_overhead
                )
                shared_longest = max(shared_longest, longest)
        return chunk
