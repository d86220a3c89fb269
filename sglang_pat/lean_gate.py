"""When a plan's private items go to the lean kernel (``cost_model.LeanKernel``): a per-plan
gate on the plan's work in cost-model bytes, fitted on the H200.

The lean kernel runs the shared items on one program per SM and the private items beside them
on small tiles. That pays when both parts are comparable: each alone then takes well under
the one launch, and they overlap. It loses when one part dominates, since that part alone is
then slower than in the one launch. Examples: many 16-row shared tiles, which are
memory-bound and want two programs per SM; or long private tails, which want the wide tiles.

The gate estimates three times, each linear in the plan's work (``PlanWork``, MB of
cost-model bytes, see ``cost_model``):
- the shared part alone, S = shared cost per shared-part program, and s = the share of shared
  items on the menu's smallest tile:

      t_shared = a0·S + a1·S·s + a2

- the private part alone, P = private cost per private-part program, L = the costliest
  one-request private unit, K = the costliest packed-tails unit (it reads its members one
  after another, so it counts its longest member once per member):

      t_private = b0·P + b1·L + b2·K + b3

- the one launch:

      t_one = c0·S + c1·S·s + c2·P + c3·L + c4·K + c5

It splits when ``max(t_shared, t_private) + overlap·min(...) < margin·t_one``.

The coefficients were fitted on 79 shapes on the H200 by
``benchmarks/experiments/lean_gate/fit.py``, each shape in its own process:
- session 18's suite trees with sharing at four head configs, the acceptance shapes, gsp
  4 × 32's batch and the uniform served batches;
- session 24's ten shuffled gsp batches as a server decodes them (``gsp:…`` in
  ``benchmarks/workloads.py``): groups of 1 to ~10 running requests;
- session 44's eighteen batches with packed tails of 288-512 tokens
  (``TileMenu.max_packed_long_tail``): gsp 4 × 32's batch late in its decode, where the
  split is 17-24% faster, and gsp defaults' shuffled batches, where it is 9-14% slower.
  Until then a packed unit and a one-request one shared L, and the gate kept the first
  kind whole and split the second.
Rows whose plans have changed since they were measured are left out: 6 of 85.
- The gated choice takes 0.943× the one launch's time (geometric mean; 0.946× with each
  shape's time models refitted without it). Always splitting takes 0.988×, the best choice
  per shape 0.934×, and session 24's coefficients 0.970×.
- Three shapes lose 3–14% (``1,2,64_1024,256,256`` at (32, 8): 1.14).
- What it cost where it chose otherwise than session 24's coefficients (kernel benchmark at
  514de5a against session 43's): the worked example 61.7 → 65.7 µs (now kept whole),
  ``1,2,64_1024,256,256`` 41.2 → 46.5 at (32, 8) and 43.5 → 50.3 at (64, 8) (the latter a
  row the fit left out as stale); the suite's geometric mean over FlashInfer decode 2.696× →
  2.676×. Served, gsp 4 × 32 went from 1.921× to 1.980× flashinfer and gsp defaults from
  1.349× to 1.410×, with the long tails packed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

MB = 1e6


class PlanWork(NamedTuple):
    """A plan's two parts in MB of cost-model bytes (all KV heads)."""

    shared_per_program: float  # S: shared items' cost / shared-part programs
    small_tile_share: float  # s: the share of shared items on the menu's smallest tile
    private_per_program: float  # P: private items' cost / private-part programs
    longest_private: float  # L: the costliest one-request private unit (one KV head)
    longest_packed: float  # K: the costliest packed-tails unit (one KV head)


def plan_work(
    items: np.ndarray,
    num_shared_items: int,
    *,
    token_cost: np.ndarray,
    item_overhead: float,
    tile_rows: np.ndarray,
    num_kv_heads: int,
    shared_programs: int,
    private_programs: int,
) -> PlanWork:
    """``PlanWork`` of a plan's ``items [I, 6]`` (``plan.py``): each item costs its KV length
    times its tile's token cost plus one item's overhead; a packed-tails item (chunk -1)
    counts its longest member's length once per member."""
    kv_len, members, chunk, tile = items[:, 1], items[:, 3], items[:, 4], items[:, 5]
    reads = np.where(chunk < 0, members, 1)
    cost = kv_len * reads * token_cost[tile] + item_overhead
    shared, private = cost[:num_shared_items], cost[num_shared_items:]
    packed = chunk[num_shared_items:] < 0
    smallest = tile_rows[tile[:num_shared_items]] == tile_rows.min()
    return PlanWork(
        shared_per_program=float(shared.sum()) * num_kv_heads / shared_programs / MB,
        small_tile_share=float(smallest.mean()) if smallest.size else 0.0,
        private_per_program=float(private.sum()) * num_kv_heads / private_programs / MB,
        longest_private=float(private[~packed].max(initial=0.0)) / MB,
        longest_packed=float(private[packed].max(initial=0.0)) / MB,
    )


@dataclass(frozen=True)
class LeanGate:
    """The split rule of the module docstring; coefficients in µs (H200, sessions 18, 24 and
    44)."""

    shared_us: tuple[float, float, float] = (18.85, 31.20, 14.36)  # a0..a2
    private_us: tuple[float, float, float, float] = (57.92, 41.12, 17.85, 7.41)  # b0..b3
    one_launch_us: tuple[float, ...] = (13.59, 16.40, 46.15, 17.40, 22.52, 15.18)  # c0..c5
    overlap: float = 0.3
    margin: float = 0.95

    def estimates(self, work: PlanWork) -> tuple[float, float, float]:
        """µs of the shared part alone, the private part alone, and the one launch."""
        s, small, p, longest, packed = work
        a, b, c = self.shared_us, self.private_us, self.one_launch_us
        shared = a[0] * s + a[1] * s * small + a[2]
        private = b[0] * p + b[1] * longest + b[2] * packed + b[3]
        one = c[0] * s + c[1] * s * small + c[2] * p + c[3] * longest + c[4] * packed + c[5]
        return shared, private, one

    def splits(self, work: PlanWork) -> bool:
        shared, private, one = self.estimates(work)
        return max(shared, private) + self.overlap * min(shared, private) < self.margin * one
