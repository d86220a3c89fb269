"""The chunk cost: the estimated launch cost of one tile config's spans cut into chunks of one
length (``CostModel``'s constants, bytes-equivalent per KV head), compiled by numba.

``chunk_choice`` minimises it over the candidate lengths on every decode step, cold or lazy;
compiled, it leaves the lazy update a few microseconds (as Python it was about half of one).
``cache=True``: the first process on a machine compiles, a few seconds.
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True)
def longest_unit_cost(chunk_len, max_len, token_cost, item_overhead):
    """Cost of a config's longest unit when its spans (the longest ``max_len``) are cut into
    ``chunk_len`` chunks: the chunk's tokens plus one item's overhead."""
    return min(chunk_len, max_len) * token_cost + item_overhead


@numba.njit(cache=True)
def chunk_spread(
    item_overhead, extra_items, extra_partials, partial_cost, total_work, num_programs,
    num_kv_heads, private_only,
):  # fmt: skip
    """The launch's work spread over the programs, with the ``extra_items`` items (counted
    for a private-only config) and ``extra_partials`` partials per KV head that a cut adds:
    what ``chunk_cost`` never goes under. It only grows as the chunks get shorter (more items and
    partials), so a private-only chunk choice stops where it reaches the best cost
    (``chunk_choice.private_chunk``)."""
    added = extra_partials * partial_cost
    if private_only:
        added += extra_items * item_overhead
    return (total_work + num_kv_heads * added) / num_programs


@numba.njit(cache=True)
def late_units(units, longest, shared_end, free):
    """Of a private-only config's ``units`` (the longest ``longest``), how many do not fit
    on the ``free`` programs that the shared units ahead leave before they end
    (``shared_end``; both ``queue_wait``'s), so start when they end; ≤ 0: every unit runs
    beside them."""
    return units - free * max(1, int(shared_end // longest))


@numba.njit(cache=True)
def queue_wait(shared_units, shared_longest, num_programs):
    """What private units taken from the queue after ``shared_units`` (the longest
    ``shared_longest``) wait for: when those end, and how many programs they leave free.

    When the shared units hold nearly every program (``1,10_4096,416`` at G = 8 without
    ``PackScheduler.max_shared_units``: 256 of 264), this cuts the private tails shorter;
    when the free programs run every private unit before the shared units end, the tails
    stay whole (``chunk_cost``).
    """
    shared_end = math.ceil(shared_units / num_programs) * shared_longest
    return shared_end, max(num_programs - shared_units, 0)


@numba.njit(cache=True)
def chunk_cost(
    spread, chunk_len, max_len, token_cost, item_overhead, num_programs, private_only, units,
    shared_end, free,
):  # fmt: skip
    """Estimated launch cost when one config's spans are cut into ``chunk_len`` chunks.

    Programs pull units from a queue: the launch lasts the total work (every tile config's,
    plus the partials, and for a private-only config the items, that the cut adds) spread
    over the programs, ``spread`` (``chunk_spread``'s: the callers need it apart), or the
    longest unit if that is longer.

    A config of private tails only (``private_only``) has alike, memory-bound units: its
    launch runs in whole waves of the longest unit, and each extra item costs its
    overhead, so the spread (its items included) is rounded up to whole waves, and,
    where no shared units queue ahead, to at least ⌈units / programs⌉ of them: the kernel
    deals the units past the first wave as the programs start, not as they finish (the
    comment at the return). On the H200 this picks chunks 8-18% faster for batches of 2-16
    private requests; applied to configs with shared packs (compute-bound units beside the
    private ones) it picked chunks up to 41% slower, so they keep the plain maximum. Such a
    config's ``units`` (items × KV heads) also queue behind the shared ones: (``shared_end``,
    ``free``) is ``queue_wait``'s ((0, 0): none ahead). Units that all fit on the free
    programs before the shared units end cost that end (or the spread, or their longest
    unit, if longer) instead of whole waves: the tie then keeps the longer chunk.
    """
    longest = longest_unit_cost(chunk_len, max_len, token_cost, item_overhead)
    if private_only:
        waves = math.ceil(spread / longest) * longest
        if shared_end:
            # The free programs take private units at once, as many in turn as fit before
            # the shared units end; the rest start when they end. When none is left over,
            # the launch ends with the shared units (or the spread): whole waves of private
            # units do not apply beside them, and rounding to them cut 1,10_4096,416's
            # 416-token tails in two at G = 8, 47% slower on the H200 (session 34).
            late = late_units(units, longest, shared_end, free)
            if late > 0:
                return max(waves, shared_end + math.ceil(late / num_programs) * longest)
            return max(spread, shared_end, longest)
        # A program takes its next unit's ticket as it starts its current one (the pack
        # kernel hides the atomic's latency behind the unit), so units past the first
        # wave go to the programs that started first, whatever their first unit's length:
        # past ``num_programs`` units the launch lasts two of the longest units. Charging
        # that took Mooncake batches of 16-64 requests 20-27% faster on the H200
        # (benchmarks/experiments/chunks/ticket_waves.py, session 39).
        return max(waves, math.ceil(units / num_programs) * longest)
    return max(spread, longest)
