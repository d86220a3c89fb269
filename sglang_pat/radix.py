"""PrefixForest from SGLang's radix tree: walk each request's ``last_node`` up to the root.

SGLang's RadixCache already stores every shared prefix once; a decode request references the
deepest node of its cached prompt (``req.last_node``). Walking those paths gives each tree node
its token range (the same in every request through it) and its member count. Nodes with two or
more members are shared; a chain of nodes with the same members (a node split by another
prompt, say) becomes one forest node. Everything past a request's deepest shared node is its
private tail. ``req_to_token`` is never compared: the tree is the source of truth.

Only ``node.parent`` and ``len(node.key)`` are read (CPU objects, no tensor, no GPU sync).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from .forest import PrefixForest


def forest_from_radix(
    last_nodes: Sequence[Any], root: Any, seq_lens: Sequence[int] | np.ndarray
) -> PrefixForest:
    """The batch's forest from each request's ``last_node`` and the tree's ``root_node``.

    ``seq_lens`` are the requests' KV lengths including the token being decoded (SGLang's
    ``seq_lens_cpu``); a ``last_node`` of ``None`` or the root means nothing cached.
    """
    # Tree node -> [start, end, first member, member count]; paths are visited root first,
    # so a parent always enters the dict before its children.
    span: dict[Any, list[int]] = {}
    paths: list[list[Any]] = []
    for request, node in enumerate(last_nodes):
        path = []
        while node is not None and node is not root:
            path.append(node)
            node = node.parent
        if node is None and path:
            raise ValueError(f"last_nodes[{request}] is not under the given root")
        offset = 0
        for tree_node in reversed(path):
            entry = span.get(tree_node)
            length = len(tree_node.key)
            if entry is None:
                span[tree_node] = entry = [offset, offset + length, request, 0]
            entry[3] += 1
            offset += length
        paths.append(path)

    forest_node: dict[Any, int] = {}
    starts: list[int] = []
    ends: list[int] = []
    parents: list[int] = []
    reps: list[int] = []
    for tree_node, (start, end, first, count) in span.items():
        if count < 2:
            continue
        parent = forest_node.get(tree_node.parent, -1)
        if parent >= 0 and span[tree_node.parent][3] == count:
            forest_node[tree_node] = parent  # same members as its parent: one range
            ends[parent] = end
            continue
        forest_node[tree_node] = len(starts)
        starts.append(start)
        ends.append(end)
        parents.append(parent)
        reps.append(first)
    req_node = [next((forest_node[n] for n in path if span[n][3] >= 2), -1) for path in paths]
    return PrefixForest(starts, ends, parents, reps, req_node, np.asarray(seq_lens))


class RadixForestBuilder:
    """``forest_from_radix`` that reuses the last forest while the batch keeps its requests.

    When every request of the batch still has the same ``last_node`` object (a decode step:
    only lengths grew), the sharing is unchanged: nodes on a running request's path are locked,
    so never evicted; SGLang never merges nodes; and splitting a node (another prompt inserted)
    cuts a range into two with the same members, which the forest merges back into one node.
    The walk, the costly part per step, is then skipped.
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] = ()
        self._forest: PrefixForest | None = None

    def build(
        self, last_nodes: Sequence[Any], root: Any, seq_lens: Sequence[int] | np.ndarray
    ) -> PrefixForest:
        key = (root, *last_nodes)
        if (
            self._forest is not None
            and len(key) == len(self._key)
            and all(map(operator.is_, key, self._key))
        ):
            return self._forest.with_seq_lens(seq_lens)
        forest = forest_from_radix(last_nodes, root, seq_lens)
        self._key, self._forest = key, forest
        return forest
