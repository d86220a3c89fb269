"""The batch's shared-prefix forest: which requests share which KV token ranges.

A node is a token range ``[start, end)`` shared by two or more requests of the batch: every
member holds the same KV slots at those positions of its ``req_to_token`` row, so the node's
KV can be read from the row of one representative member. A request's private tail is
``[end of its deepest shared node, seq_len)``. The forest knows nothing about SGLang objects;
builders turn a PAT tree-spec string, token-id lists or SGLang's RadixCache into one.

    tree spec "1,4,8_100,50,30" (8 requests)         forest
    level 0: 1 node  x 100 tokens                     node 0 [0,100)   members 0..7
    level 1: 4 nodes x  50 tokens                     node 1..4 [100,150) members 2 each
    level 2: 8 leaves x 30 tokens (private tails)     request r: tail [150, 180)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def _as_index_array(name: str, values: Sequence[int] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.int64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, eq=False)
class PrefixForest:
    """Shared-prefix forest of one decode batch (all arrays on the CPU, int64).

    Attributes:
        node_start, node_end: ``[N]`` token range of each shared node; a child starts where
            its parent ends, a root starts at 0.
        node_parent: ``[N]`` parent node, -1 for a root; parents come before children.
        node_rep: ``[N]`` batch index of a member whose ``req_to_token`` row holds the node.
        req_node: ``[B]`` deepest shared node of each request, -1 if it shares nothing.
        seq_lens: ``[B]`` KV length of each request, the token being decoded included.
    """

    node_start: np.ndarray
    node_end: np.ndarray
    node_parent: np.ndarray
    node_rep: np.ndarray
    req_node: np.ndarray
    seq_lens: np.ndarray
    node_members: np.ndarray = field(init=False, repr=False)  # [N] member count, derived

    def __post_init__(self) -> None:
        for name in ("node_start", "node_end", "node_parent", "node_rep", "req_node", "seq_lens"):
            object.__setattr__(self, name, _as_index_array(name, getattr(self, name)))
        self._validate()

    @property
    def num_nodes(self) -> int:
        return int(self.node_start.shape[0])

    @property
    def num_requests(self) -> int:
        return int(self.seq_lens.shape[0])

    @classmethod
    def no_sharing(cls, seq_lens: Sequence[int] | np.ndarray) -> PrefixForest:
        """A forest of no nodes: every request reads its whole KV privately."""
        lens = _as_index_array("seq_lens", seq_lens)
        return cls([], [], [], [], np.full(lens.shape[0], -1), lens)

    def with_seq_lens(self, seq_lens: Sequence[int] | np.ndarray) -> PrefixForest:
        """The same sharing with new lengths (the next decode step); only lengths are checked."""
        lens = _as_index_array("seq_lens", seq_lens)
        if lens.shape != self.seq_lens.shape:
            raise ValueError(f"seq_lens has shape {lens.shape}, expected {self.seq_lens.shape}")
        self._check_lengths(lens)
        forest = copy.copy(self)
        object.__setattr__(forest, "seq_lens", lens)
        return forest

    def private_start(self) -> np.ndarray:
        """``[B]`` first position of each request's private tail (0 where it shares nothing)."""
        return np.concatenate(([0], self.node_end))[self.req_node + 1]

    def _check_lengths(self, lens: np.ndarray) -> None:
        if lens.shape[0] and lens.min() < 1:
            raise ValueError("seq_lens: every request needs at least one KV token")
        if np.any(lens < self.private_start()):
            raise ValueError("seq_lens: a request is shorter than its shared prefix")

    def _validate(self) -> None:
        n, b = self.num_nodes, self.num_requests
        if not (self.node_end.shape[0] == self.node_parent.shape[0] == self.node_rep.shape[0] == n):
            raise ValueError("node_start, node_end, node_parent and node_rep must have one length")
        if self.req_node.shape[0] != b:
            raise ValueError(f"req_node has {self.req_node.shape[0]} entries for {b} seq_lens")
        if n == 0:
            if np.any(self.req_node != -1):
                raise ValueError("req_node names a node but the forest has none")
            self._check_lengths(self.seq_lens)
            object.__setattr__(self, "node_members", np.zeros(0, dtype=np.int64))
            return
        ids = np.arange(n)
        if np.any(self.node_parent >= ids) or np.any(self.node_parent < -1):
            raise ValueError("node_parent: every parent must be -1 or an earlier node")
        if np.any(self.node_end <= self.node_start):
            raise ValueError("node_end must be greater than node_start for every node")
        expected_start = np.where(self.node_parent >= 0, self.node_end[self.node_parent], 0)
        if np.any(self.node_start != expected_start):
            raise ValueError("node_start: a child must start where its parent ends, a root at 0")
        if np.any((self.req_node < -1) | (self.req_node >= n)):
            raise ValueError("req_node: a request names a node missing from the forest")
        if np.any((self.node_rep < 0) | (self.node_rep >= b)):
            raise ValueError("node_rep: a representative is missing from the batch")
        self._check_lengths(self.seq_lens)
        members = np.bincount(self.req_node[self.req_node >= 0], minlength=n)
        depth = np.zeros(n, dtype=np.int64)
        for node in range(n):  # parents come before children
            parent = self.node_parent[node]
            depth[node] = depth[parent] + 1 if parent >= 0 else 0
        for node in range(n - 1, -1, -1):
            parent = self.node_parent[node]
            if parent >= 0:
                members[parent] += members[node]
        if np.any(members < 2):
            raise ValueError("every shared node needs at least two member requests")
        object.__setattr__(self, "node_members", members)
        # A representative is a member iff its deepest node lies in the node's subtree.
        walk = self.req_node[self.node_rep]
        if np.any(walk < 0) or np.any(depth[walk] < depth):
            raise ValueError("node_rep: a representative is not a member of its node")
        for _ in range(int(depth.max())):
            walk = np.where(depth[walk] > depth, self.node_parent[walk], walk)
        if np.any(walk != ids):
            raise ValueError("node_rep: a representative is not a member of its node")

    # ------------------------------------------------------------------ builders

    @classmethod
    def from_tree_spec(cls, spec: str) -> PrefixForest:
        """Build from PAT's tree notation ``A_B``: node counts per level, tokens per node.

        ``1,4,256_32,256,32`` = one 32-token root, 4 children of 256 tokens, 256 leaves of 32
        tokens. The last level is the batch: one leaf per request, its private tail (which
        includes the token being decoded). ``256_4096`` is 256 requests sharing nothing.
        """
        try:
            counts_text, lengths_text = spec.split("_")
            counts = [int(x) for x in counts_text.split(",")]
            lengths = [int(x) for x in lengths_text.split(",")]
        except ValueError as error:
            raise ValueError(f"tree spec {spec!r} is not of the form 'A,B,..._X,Y,...'") from error
        if len(counts) != len(lengths) or min(counts) < 1 or min(lengths) < 1:
            raise ValueError(f"tree spec {spec!r}: one positive count and length per level")
        for upper, lower in zip(counts, counts[1:]):
            if lower % upper:
                raise ValueError(f"tree spec {spec!r}: {lower} nodes do not divide among {upper}")
        batch = counts[-1]
        starts, ends, parents, reps = [], [], [], []
        level_first_node: list[int] = []
        offset = 0
        for level, (count, length) in enumerate(zip(counts[:-1], lengths[:-1])):
            per_node = batch // count
            if per_node < 2:
                break  # a level with one request per node is private, not shared
            level_first_node.append(len(starts))
            parent_fanout = count // counts[level - 1] if level else 0
            for i in range(count):
                starts.append(offset)
                ends.append(offset + length)
                parents.append(level_first_node[level - 1] + i // parent_fanout if level else -1)
                reps.append(i * per_node)
            offset += length
        total = sum(lengths)
        if level_first_node:
            last = level_first_node[-1]
            per_node = batch // counts[len(level_first_node) - 1]
            req_node = [last + r // per_node for r in range(batch)]
        else:
            req_node = [-1] * batch
        return cls(starts, ends, parents, reps, req_node, [total] * batch)

    @classmethod
    def from_token_ids(cls, token_ids: Sequence[Sequence[int]], page_size: int = 1) -> PrefixForest:
        """Build from each request's token ids (its whole KV: prompt, output, current token).

        Sharing is decided in whole pages, as SGLang's radix tree matches them.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be positive, got {page_size}")
        seqs = [tuple(ids) for ids in token_ids]
        if any(len(s) == 0 for s in seqs):
            raise ValueError("token_ids: every request needs at least one token")
        starts: list[int] = []
        ends: list[int] = []
        parents: list[int] = []
        reps: list[int] = []
        req_node = [-1] * len(seqs)

        def split(members: list[int], start: int, parent: int) -> None:
            groups: dict[tuple[int, ...], list[int]] = {}
            for r in members:
                if len(seqs[r]) >= start + page_size:
                    groups.setdefault(seqs[r][start : start + page_size], []).append(r)
            for group in groups.values():
                if len(group) < 2:
                    continue
                end = start + page_size
                shortest = min(len(seqs[r]) for r in group)
                while end + page_size <= shortest and all(
                    seqs[r][end : end + page_size] == seqs[group[0]][end : end + page_size]
                    for r in group[1:]
                ):
                    end += page_size
                node = len(starts)
                starts.append(start)
                ends.append(end)
                parents.append(parent)
                reps.append(group[0])
                for r in group:
                    req_node[r] = node
                split(group, end, node)

        split(list(range(len(seqs))), 0, -1)
        return cls(starts, ends, parents, reps, req_node, [len(s) for s in seqs])
