"""The pack plan of one decode step: built on the CPU once, read by every layer's kernels.

    forest                  packs (KV read once each)         programs (per tile config)
    node [0,4096) 64 reqs → pack A: 64 reqs × [0,4096)      → row tiles of ≤128 rows (reqs×G)
    req r tail            → pack r: 1 req × [4096, len_r)     × KV chunks × KV heads
                                                               → partial slot per (req, chunk)
                                                               → merge per (req, q head)

Arrays (CPU numpy int32; ``PatDecoder`` copies them into device buffers of fixed capacity):

- ``segments [S, 4]``: ``(pool_row, token_start, length, kv_offset)``; the gather kernel copies
  ``req_to_token[pool_row, token_start : token_start + length]`` to ``kv_indices[kv_offset:]``.
  One segment per pack.
- ``items [I, 6]``: ``(kv_start, kv_len, member_start, num_members, chunk, tile)``: one KV chunk
  of one row tile; its rows are ``members[member_start : member_start + num_members]`` × G q
  heads, computed with the menu's tile ``tile``. The kernel's programs take (item, KV head)
  units in this order: shared packs' items by decreasing cost (the first
  ``num_shared_items``), then the private tails'.
- ``members [M, 4]``: ``(batch_index, slot_base, kv_start, kv_len)``; the partial of chunk j
  goes to slot ``slot_base + j``; ``slot_base = -1`` means the request has this one partial
  only, so the kernel writes the final output directly. An item with ``chunk = -1`` packs the
  short private tails of several requests (BLOCK_M / G): each member reads its own
  ``kv_indices[kv_start : kv_start + kv_len]`` (0, 0 for members of ordinary items) and the
  item's ``kv_len`` is the longest of them.
- ``req_partial_indptr [B + 1]``: request b merges slots ``[indptr[b], indptr[b + 1])``; the range
  is empty for a request whose single partial is already its output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEGMENT_FIELDS = 4
ITEM_FIELDS = 6
MEMBER_FIELDS = 4


class PlanCapacityError(ValueError):
    """The plan needs more room than the buffers sized at construction."""


@dataclass(frozen=True)
class PlanCapacity:
    """Worst-case sizes of the device buffers (fixed up front for CUDA graphs)."""

    max_requests: int
    max_segments: int
    max_items: int
    max_members: int
    max_partials: int
    max_kv_indices: int

    @classmethod
    def for_batch(
        cls,
        max_requests: int,
        max_kv_indices: int,
        max_chunks_per_tile: int = 32,
        max_shared_depth: int = 8,
    ) -> PlanCapacity:
        """Room for batches of ``max_requests`` reading at most ``max_kv_indices`` KV tokens.

        An all-private plan always fits (B members, at most ``max_chunks_per_tile`` partials a
        request). A shared plan fits while requests belong to at most ``max_shared_depth``
        shared packs and average that many partials; larger ones raise PlanCapacityError.
        Items never outnumber partials plus members (each tile has a member).
        """
        max_members = max_requests * (max_shared_depth + 1)
        max_partials = max_requests * max_chunks_per_tile
        return cls(
            max_requests=max_requests,
            max_segments=2 * max_requests,
            max_items=max_partials + max_members,
            max_members=max_members,
            max_partials=max_partials,
            max_kv_indices=max_kv_indices,
        )


@dataclass(frozen=True, eq=False)
class PackPlan:
    """One step's plan (see the module docstring for the arrays' meaning)."""

    segments: np.ndarray
    items: np.ndarray
    members: np.ndarray
    req_partial_indptr: np.ndarray
    num_kv_indices: int
    num_shared_items: int = 0  # items[:num_shared_items] are shared packs', the rest private

    @property
    def num_requests(self) -> int:
        return int(self.req_partial_indptr.shape[0] - 1)

    @property
    def num_partials(self) -> int:
        return int(self.req_partial_indptr[-1])

    def check_fits(self, capacity: PlanCapacity) -> None:
        """Raise ``PlanCapacityError`` naming the first buffer the plan would overflow."""
        needs = {
            "max_requests": self.num_requests,
            "max_segments": self.segments.shape[0],
            "max_items": self.items.shape[0],
            "max_members": self.members.shape[0],
            "max_partials": self.num_partials,
            "max_kv_indices": self.num_kv_indices,
        }
        for name, need in needs.items():
            if need > getattr(capacity, name):
                raise PlanCapacityError(
                    f"plan needs {name}={need}, capacity is {getattr(capacity, name)}"
                )

    def same_as(self, other: PackPlan) -> bool:
        """Exact equality of every array (used to prove the lazy update right)."""
        return self.first_difference(other) is None

    def first_difference(self, other: PackPlan) -> str | None:
        """The first field in which ``other`` differs from this plan, or None if none does."""
        for name in ("num_kv_indices", "num_shared_items"):
            if getattr(self, name) != getattr(other, name):
                return name
        for name in ("segments", "items", "members", "req_partial_indptr"):
            if not np.array_equal(getattr(self, name), getattr(other, name)):
                return name
        return None
