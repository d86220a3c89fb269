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

The coefficients were fitted on 98 shapes on the H200 by
``benchmarks/experiments/lean_gate/fit.py``, each shape in its own process:
- session 18's suite trees with sharing at four head configs, the acceptance shapes, gsp
  4 × 32's batch and the uniform served batches;
- session 24's ten shuffled gsp batches as a server decodes them (``gsp:…`` in
  ``benchmarks/workloads.py``): groups of 1 to ~10 running requests;
- session 44's eighteen batches with packed tails of 288-512 tokens
  (``TileMenu.max_packed_long_tail``): gsp 4 × 32's batch late in its decode, where the
  split is 17-24% faster, and gsp defaults' shuffled batches, where it is 9-14% slower;
- sessions 45 and 73: rows measured again, and ten wide fan-outs (one or two prefixes of
  1,024-4,096 tokens under 128-256 requests with short tails), where the split is 14-26%
  faster at G ≤ 4 and which the earlier coefficients, fitted without them, kept whole.
Rows whose plans have changed since they were measured are left out.
- The gated choice takes 0.928× the one launch's time (geometric mean; 0.932× with each
  shape's time models refitted without it). Always splitting takes 0.964×, the best choice
  per shape 0.914×, and session 44's coefficients 0.937× (over the same 98).
- Against session 44's coefficients it splits five more shapes, none slower: three wide
  fan-outs (0.74-0.78×), ``1,4,8,256_32,256,256,32`` at (32, 32) (0.94×) and
  ``1,1024_2048,32`` (1.00×). Two wide fan-outs (``1,256_4096,32``, ``1,256_2048,16``) are
  still kept whole: the shared model reads their shared part ~25% slow.
- Shapes that lose 3–25% split: ``1,2,64_1024,256,256`` at (32, 8) (1.14),
  ``1,4,16,512_1024,256,128,32`` at (32, 32) (1.07), ``8,16,32,256_256,128,64,32`` (1.03),
  ``1,68_4096,448`` (1.25), as with session 44's.
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
    """The split rule of the module docstring; coefficients in µs (H200, sessions 18, 24, 44,
    45 and 73)."""

    shared_us: tuple[float, float, float] = (17.68, 32.95, 14.29)  # a0..a2
    private_us: tuple[float, float, float, float] = (57.92, 40.58, 18.79, 6.89)  # b0..b3
    one_launch_us: tuple[float, ...] = (13.82, 17.49, 46.85, 12.74, 20.84, 14.89)  # c0..c5
    overlap: float = 0.35
    margin: float = 1.0

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
