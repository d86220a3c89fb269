"""Random shared-prefix forests and a checker of the plan invariants."""

from __future__ import annotations

from collections import Counter

import numpy as np

from sglang_pat.forest import PrefixForest
from sglang_pat.plan import PackPlan


def random_forest(
    rng: np.random.Generator, max_nodes: int = 12, long_spans: bool = False
) -> PrefixForest:
    """Any shape: several roots, chains, fan-out, requests ending inside, unshared requests."""
    num_nodes = int(rng.integers(0, max_nodes + 1))
    parent = [
        -1 if i == 0 or rng.random() < 0.2 else int(rng.integers(0, i)) for i in range(num_nodes)
    ]
    high = 3000 if long_spans else 300
    lengths = rng.integers(1, high, num_nodes)
    start, end = np.zeros(num_nodes, np.int64), np.zeros(num_nodes, np.int64)
    children = Counter(parent)
    req_node: list[int] = []
    for i in range(num_nodes):
        start[i] = end[parent[i]] if parent[i] >= 0 else 0
        end[i] = start[i] + lengths[i]
        kids = children.get(i, 0)
        low = 2 if kids == 0 else 1 if kids == 1 else 0
        req_node += [i] * int(rng.integers(low, low + 4))
    req_node += [-1] * int(rng.integers(0 if req_node else 1, 4))
    req = np.asarray(req_node, dtype=np.int64)[rng.permutation(len(req_node))]
    shared_end = np.where(req >= 0, np.append(end, 0)[req], 0)
    tails = rng.integers(0, 200, req.shape[0]) + (req < 0)
    rep = np.zeros(num_nodes, np.int64)
    for i in range(num_nodes):  # a member: a request whose path passes through node i
        for r, node in enumerate(req.tolist()):
            while node >= 0 and node != i:
                node = parent[node]
            if node == i:
                rep[i] = r
                break
    return PrefixForest(start, end, parent, rep, req, shared_end + tails)


def slot_rows(forest: PrefixForest) -> list[np.ndarray]:
    """KV slots of each request: a shared node's positions hold the same slots in every member."""
    rows, next_slot, node_slots = [], 1, {}
    for node in range(forest.num_nodes):
        length = int(forest.node_end[node] - forest.node_start[node])
        node_slots[node] = np.arange(next_slot, next_slot + length)
        next_slot += length
    for r in range(forest.num_requests):
        path, node = [], int(forest.req_node[r])
        while node >= 0:
            path.append(node_slots[node])
            node = int(forest.node_parent[node])
        shared = np.concatenate(path[::-1]) if path else np.zeros(0, np.int64)
        tail = int(forest.seq_lens[r]) - shared.shape[0]
        rows.append(np.concatenate([shared, np.arange(next_slot, next_slot + tail)]))
        next_slot += tail
    return rows


def check_plan(plan: PackPlan, forest: PrefixForest, tile_rows: list[int], group: int) -> None:
    """Every (request, KV token) covered exactly once; slots unique and where the merge looks."""
    rows = slot_rows(forest)
    pool = np.arange(forest.num_requests)  # request r lives in pool row r here
    kv = np.full(plan.num_kv_indices, -1, dtype=np.int64)
    for row, start, length, dst in plan.segments.tolist():
        assert np.all(kv[dst : dst + length] == -1), "segments overlap"
        kv[dst : dst + length] = rows[pool[row]][start : start + length]
    assert np.all(kv >= 0), "kv_indices has holes"
    # The token position in its request's row of every kv_indices entry.
    position = np.full(plan.num_kv_indices, -1, dtype=np.int64)
    for _, start, length, dst in plan.segments.tolist():
        position[dst : dst + length] = np.arange(start, start + length)
    private_start = forest.private_start()
    seen: list[list[np.ndarray]] = [[] for _ in range(forest.num_requests)]
    slots: dict[int, list[int]] = {r: [] for r in range(forest.num_requests)}
    for item, record in enumerate(plan.items.tolist()):
        kv_start, kv_len, member_start, count, chunk, tile = record
        rows_of = plan.members[member_start : member_start + count].tolist()
        if item >= plan.num_shared_items:  # the lean kernel's: one request, or packed tails
            assert chunk < 0 or count == 1, "a private item holds one request"
        else:  # a shared pack's tile: KV its members share, before any member's own tail
            assert chunk >= 0, "packed tails come after the shared items"
            last = position[kv_start + kv_len - 1]
            assert all(last < private_start[req] for req, *_ in rows_of), "not shared KV"
        assert 1 <= count and count * group <= tile_rows[tile], "rows exceed the tile"
        assert kv_len >= 1
        if chunk < 0:  # packed tails: each member reads its own range
            assert kv_len == max(length for *_, length in rows_of)
        for req, slot_base, own_start, own_len in rows_of:
            if chunk < 0:
                seen[req].append(kv[own_start : own_start + own_len])
            else:
                seen[req].append(kv[kv_start : kv_start + kv_len])
            slots[req].append(slot_base + max(chunk, 0) if slot_base >= 0 else -1)
    indptr = plan.req_partial_indptr
    for r in range(forest.num_requests):
        covered = np.sort(np.concatenate(seen[r]))
        assert np.array_equal(covered, np.sort(rows[r])), f"request {r} not covered exactly once"
        mine = slots[r]
        if indptr[r + 1] == indptr[r]:
            assert mine == [-1], f"request {r}: a lone partial must write the output"
        else:
            assert sorted(mine) == list(range(indptr[r], indptr[r + 1])), f"request {r} slots"
