"""The chunk length of each chunk class, from its exact chunk counts (the scheduler's step 3),
compiled by numba.

``chunking.ChunkCounts`` counts, for each candidate chunk length, the items and partials a
class would make; ``class_chunks`` picks per class the candidate that ``chunk_cost.chunk_cost``
prices cheapest. It runs on every decode step, lazy updates included, where as Python it took
about half of the update. ``PackScheduler.min_chunk_tokens`` sets ``shortest_chunk``,
``PackScheduler.min_shared_chunk_tokens`` the shared floor, ``PackScheduler.max_shared_units``
the cap; ``forced`` fixes a config's chunk for profiling (``benchmarks/profile_pat.py``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .chunk_cost import chunk_cost, chunk_spread, longest_unit_cost, queue_wait


@numba.njit(cache=True)
def _index_of(candidates, length):
    """Index of ``length`` among ``candidates``; a ValueError if it is not one."""
    for k in range(candidates.shape[0]):
        if candidates[k] == length:
            return k
    raise ValueError("a chunk length that is not one of the class's candidates")


@numba.njit(cache=True)
def class_chunks(
    candidates, powers, items, member_chunks, shared_items, tiles, members, shared_tiles,
    active, max_len, total_work, max_tail, token_cost, shortest_chunk, forced, item_overhead,
    partial_cost, num_programs, num_kv_heads, max_chunks_per_tile, min_shared_chunk,
    max_shared_units,
):  # fmt: skip
    """Chunk length per chunk class (0 for a class without tiles), ``ChunkRule.chunks``.

    Classes with shared packs come first (``active``'s order): private-only classes' units
    queue behind theirs. Those see the powers of two only (their chunks were measured at
    those), private-only classes every candidate, the fine ones too. A private-only class's
    spans are tails of at most ``max_tail`` tokens, so its longest unit and its candidates
    stop there (``max_len``, the longest span of all, would charge chunks longer than any tail
    as if their units were that long). ``forced`` [C, 2]: a config's chunk as a shared and as
    a private-only class (0: chosen); ``min_shared_chunk``, ``max_shared_units``: 0 for none.
    """
    num_configs = token_cost.shape[0]
    chunk = np.zeros(items.shape[0], dtype=np.int64)
    shared_units, shared_longest = 0, 0.0
    cap_left = max_shared_units
    fine = powers.shape[0] < candidates.shape[0]
    for c in active:
        config = c % num_configs
        private_only = shared_tiles[c] == 0
        pick = powers if fine and not private_only else np.arange(candidates.shape[0])
        class_candidates, class_items = candidates[pick], items[c][pick]
        class_partials, class_shared = member_chunks[c][pick], shared_items[c][pick]
        forced_chunk = forced[config, int(private_only)]
        if forced_chunk:
            k = _index_of(class_candidates, forced_chunk)
        elif private_only:
            shared_end, free = 0.0, 0
            if shared_units:
                shared_end, free = queue_wait(shared_units, shared_longest, num_programs)
            first = _first_candidate(
                class_candidates, shortest_chunk[config], 0, 0, max_tail, max_chunks_per_tile
            )
            k = private_chunk(
                class_candidates, class_items, class_partials, tiles[c], members[c], first,
                max_tail, token_cost[config], total_work, shared_end, free, item_overhead,
                partial_cost, num_programs, num_kv_heads,
            )  # fmt: skip
        else:
            capped = 0  # shortest candidate in the cap
            if max_shared_units:
                for j in range(pick.shape[0]):
                    if class_shared[j] * num_kv_heads <= cap_left:
                        capped = class_candidates[j]
                        break
            first = _first_candidate(
                class_candidates, shortest_chunk[config], capped, min_shared_chunk, max_len,
                max_chunks_per_tile,
            )  # fmt: skip
            k = shared_chunk(
                class_candidates, class_items, class_partials, tiles[c], members[c], first,
                max_len, token_cost[config], total_work, item_overhead, partial_cost,
                num_programs, num_kv_heads,
            )  # fmt: skip
        chunk[c] = class_candidates[k]
        if private_only:  # only shared classes' units queue ahead of the private-only ones
            continue
        cap_left = max(0, cap_left - class_shared[k] * num_kv_heads)
        shared_units += class_items[k] * num_kv_heads
        longest = longest_unit_cost(chunk[c], max_len, token_cost[config], item_overhead)
        shared_longest = max(shared_longest, longest)
    return chunk


@numba.njit(cache=True)
def _first_candidate(candidates, shortest, capped, min_shared_chunk, max_len, max_chunks_per_tile):
    """Index of the shortest chunk a class may take: the config's shortest chunk, at least
    ``capped`` (the shortest that keeps the shared units within the cap; 0: none does, or no
    cap) and, for a shared class, the smallest candidate of at least ``min_shared_chunk`` (the
    last, one chunk a span, when none is; 0: no floor); doubled until a span of ``max_len``
    makes at most ``max_chunks_per_tile`` chunks."""
    chunk = max(shortest, capped)
    if min_shared_chunk and chunk < min_shared_chunk:
        floor = candidates[-1]
        for length in candidates:
            if length >= min_shared_chunk:
                floor = length
                break
        chunk = max(chunk, floor)
    while -(-max_len // chunk) > max_chunks_per_tile:
        chunk *= 2
    return _index_of(candidates, chunk)


@numba.njit(cache=True)
def shared_chunk(
    candidates, items, member_chunks, tiles, members, first, max_len, token_cost, total_work,
    item_overhead, partial_cost, num_programs, num_kv_heads,
):  # fmt: skip
    """The chunk of a class with shared packs, as its index: the cheapest candidate from
    ``first`` on, up to where ``chunk_cost`` starts to grow (it is unimodal: past the crossing
    the longest unit only grows), a tie going to the longer chunk (fewer items and partials).
    ``items[k]`` / ``member_chunks[k]``: the class's items and partials cut at
    ``candidates[k]``."""
    best_k, best = first, math.inf
    for k in range(first, candidates.shape[0]):
        spread = chunk_spread(
            item_overhead, items[k] - tiles, member_chunks[k] - members, partial_cost,
            total_work, num_programs, num_kv_heads, False,
        )  # fmt: skip
        value = chunk_cost(
            spread, candidates[k], max_len, token_cost, item_overhead, num_programs, False,
            items[k] * num_kv_heads, 0.0, 0,
        )  # fmt: skip
        if value > best:
            break
        best_k, best = k, value
        if candidates[k] >= max_len:
            break
    return best_k


@numba.njit(cache=True)
def private_chunk(
    candidates, items, member_chunks, tiles, members, first, max_len, token_cost, total_work,
    shared_end, free, item_overhead, partial_cost, num_programs, num_kv_heads,
):  # fmt: skip
    """The chunk of a private-only class, as its index: the cheapest of the candidates from
    ``candidates[first]`` to the first that holds ``max_len`` (the longest tail), a tie going
    to the longer chunk; (``shared_end``, ``free``): ``queue_wait``'s of the shared units
    ahead. Its cost is not monotone (whole waves of the longest unit), but it never goes under
    the spread work (``chunk_spread``), which only grows as the chunks get shorter: taken
    longest first, the candidates stop where the spread reaches the best cost, usually after a
    few of the dozen fine ones."""
    last = first + np.searchsorted(candidates[first:], max_len)
    best_k, best = last, math.inf
    for k in range(last, first - 1, -1):
        spread = chunk_spread(
            item_overhead, items[k] - tiles, member_chunks[k] - members, partial_cost,
            total_work, num_programs, num_kv_heads, True,
        )  # fmt: skip
        if spread >= best:
            break
        value = chunk_cost(
            spread, candidates[k], max_len, token_cost, item_overhead, num_programs, True,
            items[k] * num_kv_heads, shared_end, free,
        )  # fmt: skip
        if value < best:
            best_k, best = k, value
    return best_k
