"""Which form a step's launches take, decided once per plan on the CPU.

The merge may start as the pack kernel's programmatic dependent (PDL) or after it, and may load
one request's partial slots at once; ``launch_header`` writes the pack launches' header, which
tells each launch its items and programs and whether an early merge may start.
"""

from __future__ import annotations

import numpy as np

from .kernels.launch import merge_grid
from .plan import PackPlan

# The launches' header, read by ``pack_decode``: at PAIR_HEADER the split launches' counts
# (shared items, shared programs with work, private items); at ALL_ITEMS_HEADER, 16 bytes on
# (the same pointer alignment), the all-items launches' own (every item, whether a PDL merge
# starts at once). An all-items launch reads its own count, so that it computes the whole plan
# also when the gate splits it: a graph that replays that form by mistake is slow, never wrong.
HEADER_FIELDS = 7
PAIR_HEADER = slice(0, 3)
ALL_ITEMS_HEADER = slice(4, 6)
# Batches under this many rows (a graph's, padding included) that run the one launch start the
# merge as the pack kernel's programmatic dependent (PDL): 0.2-1.0 µs a layer less on batches
# of 1-12 requests, outputs identical (H200, session 28); on shared shapes of 64+ requests it
# cost 1-1.5 µs (session 12), and those run the lean pair anyway (benchmarks/experiments/
# latency/README.md).
PDL_MAX_BATCH = 16
# The merge's programs land on the SMs that pack programs have left. Started at once, they
# crowd onto the SMs of the few programs that have no unit, and the merge's partial reads go
# through those SMs: 1,8_4096,480 at 64 q / 8 KV heads (256 units on 264 programs, 64 merge
# programs) took 37.6 µs against 24.8 with the plain merge (H200, session 35,
# benchmarks/experiments/chunks/cut_or_whole.py). So a plan starts the merge at once only
# when no program is idle or the idle ones number at least this share of the merge's programs
# (measured gaining ~1 µs: 8 idle for 8-16, 40 for 40-48, 72 for 64); otherwise the merge
# launches as the pack kernel ends.
PDL_IDLE_PER_MERGE_PROGRAM = 0.5
# One request's merge loads 16 of its partial slots at once (``merge_states(slots_at_once=
# True)``): 0.4-1.7 µs a layer less at 2,000-16,000 tokens (8-32 slots), 0.3 more at 1,000
# (4 slots). From two requests on it lost as often as it gained (2 × 1,000 and 2 × 8,000:
# +0.4 and +1.4 µs; 8 and 15 requests: +0.8 and +3.6; 10 sharing a prefix: +5.2), so
# batches of two or more keep the slot-by-slot merge (H200, session 33,
# benchmarks/experiments/merge_slots/).
MERGE_SLOTS_AT_ONCE_MAX_BATCH = 1


def merge_starts_early(units: int, num_programs: int, merge_programs: int) -> bool:
    """Whether a PDL merge may start as the pack kernel starts (``PDL_IDLE_PER_MERGE_PROGRAM``):
    ``units`` (items × KV heads) on ``num_programs`` programs; ``merge_programs``: the merge's
    grid for the plan's requests (those with one partial read nothing, but are few where the
    merge crowds: each shared pack gives its members several)."""
    idle = num_programs - units
    return idle <= 0 or idle >= PDL_IDLE_PER_MERGE_PROGRAM * merge_programs


def launch_header(
    plan: PackPlan,
    splits: bool,
    *,
    num_programs: int,
    shared_part_programs: int,
    num_kv_heads: int,
    group_size: int,
) -> np.ndarray:
    """The launches' header (``HEADER_FIELDS``): the shared part's items and programs with
    work, then the private part's items (``splits``: the plan runs as the lean pair); or every
    item on all ``num_programs`` programs, none for a private part. Then every item and whether
    a PDL merge starts at once, for the all-items launches."""
    num_items = plan.items.shape[0]
    if not splits:
        pair = [num_items, num_programs, 0]
    else:
        shared = plan.num_shared_items
        pair = [shared, shared_part_programs, num_items - shared]
    requests = plan.num_requests
    batch, head_blocks = merge_grid(
        requests,
        num_kv_heads * group_size,
        requests <= MERGE_SLOTS_AT_ONCE_MAX_BATCH,  # as PatDecoder.forward's, padding aside
    )
    early = merge_starts_early(num_items * num_kv_heads, num_programs, batch * head_blocks)
    header = np.zeros(HEADER_FIELDS, dtype=np.int32)
    header[PAIR_HEADER] = pair
    header[ALL_ITEMS_HEADER] = (num_items, early)
    return header
