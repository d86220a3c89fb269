"""How a plan's chunk counts grow while every private tail gains a token a step (the lazy
update's per-step recount, compiled)."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .chunk_choice import class_chunks
from .chunking import ChunkCounts, ChunkRule


@numba.njit(cache=True)
def _grown_counts(items, member_chunks, classes, tails, residues, lengths, step):
    """``items`` and ``member_chunks`` [L, K] plus what ``step`` tokens add to each class in
    ``classes`` (its ``tails`` tails; ``residues`` [classes, K, widest], sorted, -1 first)."""
    items, member_chunks = items.copy(), member_chunks.copy()
    widest = residues.shape[2]
    for i in range(classes.shape[0]):
        c, count = classes[i], tails[i]
        for k in range(lengths.shape[0]):
            within = step % lengths[k]
            grown = count * (step // lengths[k])
            if within > 0:  # tails whose residue reaches the chunk's end: one more chunk each
                grown += widest - np.searchsorted(residues[i, k], lengths[k] - within)
            items[c, k] += grown
            member_chunks[c, k] += grown  # a private tile has one member
    return items, member_chunks


@numba.njit(cache=True)
def _chunks_hold(
    class_chunk, step, classes, tails, residues, candidates, powers, items, member_chunks,
    shared_items, tiles, members, shared_tiles, active, max_len, total_work, max_tail, *settings,
):  # fmt: skip
    """Whether the chunk choice over the counts grown by ``step`` tokens (``_grown_counts``)
    is ``class_chunk`` (``class_chunks``, its ``settings`` ``ChunkRule.choice_settings``')."""
    grown_items, grown_partials = _grown_counts(
        items, member_chunks, classes, tails, residues, candidates, step
    )
    chunk = class_chunks(
        candidates, powers, grown_items, grown_partials, shared_items, tiles, members,
        shared_tiles, active, max_len, total_work, max_tail, *settings,
    )  # fmt: skip
    return np.array_equal(chunk, class_chunk)


@dataclass
class TailGrowth:
    """How the private tails' share of ``ChunkCounts`` grows when every tail gains a token.

    A tail of length l₀ + s has ⌈(l₀ + s) / c⌉ = ⌈l₀ / c⌉ + s // c + [r + s % c ≥ c] chunks,
    r = (l₀ − 1) mod c, so per class and candidate the sorted residues give the count at any
    step by bisection (private tiles have one member: partials grow like items). Compiled by
    numba: as Python lists this was up to a third of a lazy update's time.
    """

    counts: ChunkCounts  # the cold plan's
    classes: np.ndarray  # chunk classes that hold private tails
    tails: np.ndarray  # tails per such class
    residues: np.ndarray  # [classes, K, widest] sorted residues, padded with -1 in front

    @classmethod
    def of_tails(
        cls, counts: ChunkCounts, tail_len: np.ndarray, tail_class: np.ndarray
    ) -> TailGrowth:
        classes, tails = np.unique(tail_class, return_counts=True)
        lengths = counts.candidates
        widest = int(tails.max(initial=0))
        residues = np.full((classes.shape[0], lengths.shape[0], widest), -1, dtype=np.int64)
        for i, c in enumerate(classes.tolist()):
            lens = tail_len[tail_class == c] - 1
            residues[i, :, widest - lens.shape[0] :] = np.sort(lens % lengths[:, None], axis=1)
        return cls(counts, classes.astype(np.int64), tails.astype(np.int64), residues)

    def chunks_hold(
        self,
        step: int,
        rule: ChunkRule,
        class_chunk: np.ndarray,
        max_len: int,
        total_work: float,
        max_tail: int,
    ) -> bool:
        """Whether ``rule`` chooses ``class_chunk`` again once every tail has grown by
        ``step`` tokens (the longest span ``max_len``, the longest tail ``max_tail``): the
        lazy update's recount and chunk choice in one compiled call, as two they took a
        fifth more of its time."""
        counts = self.counts
        return _chunks_hold(
            class_chunk, step, self.classes, self.tails, self.residues, counts.candidates,
            counts.powers, counts.items, counts.member_chunks, counts.shared_items, counts.tiles,
            counts.members, counts.shared_tiles, counts.active, max_len, total_work, max_tail,
            *rule.choice_settings(),
        )  # fmt: skip
