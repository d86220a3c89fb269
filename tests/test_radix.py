"""PrefixForest from a real SGLang RadixCache equals the one built from token ids."""

from __future__ import annotations

import sys
from array import array
from pathlib import Path

import numpy as np
import pytest

from sglang_pat.forest import PrefixForest
from sglang_pat.radix import RadixForestBuilder, forest_from_radix

radix_cache = pytest.importorskip("sglang.srt.mem_cache.radix_cache")
base = pytest.importorskip("sglang.srt.mem_cache.base_prefix_cache")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from workloads import radix_cache_holding  # noqa: E402


def canonical(forest: PrefixForest) -> tuple:
    """Nodes as (start, end, members) and each request's deepest shared range."""
    members: list[set[int]] = [set() for _ in range(forest.num_nodes)]
    for request, node in enumerate(forest.req_node.tolist()):
        while node >= 0:
            members[node].add(request)
            node = int(forest.node_parent[node])
    nodes = sorted(
        (int(s), int(e), tuple(sorted(m)))
        for s, e, m in zip(forest.node_start, forest.node_end, members)
    )
    deepest = [
        (int(forest.node_start[n]), int(forest.node_end[n])) if n >= 0 else None
        for n in forest.req_node.tolist()
    ]
    return nodes, deepest, forest.seq_lens.tolist()


def prompts_with_nested_prefixes(rng: np.random.Generator) -> list[list[int]]:
    system = rng.integers(1, 1000, 70).tolist()
    tool_a, tool_b = rng.integers(1, 1000, 37).tolist(), rng.integers(1, 1000, 21).tolist()
    shot = rng.integers(1, 1000, 29).tolist()
    prompts = []
    for group, extra in ((tool_a, []), (tool_a, shot), (tool_b, []), (tool_b, shot)):
        for _ in range(3):
            prompts.append(system + group + extra + rng.integers(1, 1000, 5).tolist())
    prompts.append(prompts[0][:80])  # a prefix of another prompt: a node is split
    prompts.append(rng.integers(1, 1000, 40).tolist())  # shares nothing
    return prompts


@pytest.mark.parametrize("page_size", [1, 16])
def test_forest_from_radix_cache_matches_token_ids(page_size: int) -> None:
    rng = np.random.default_rng(page_size)
    prompts = prompts_with_nested_prefixes(rng)
    # the short prefix goes in last and splits a node
    cache, last_nodes = radix_cache_holding(prompts, page_size, inserted=prompts[::-1])
    decoded = rng.integers(1, 40, len(prompts))
    seq_lens = [len(p) + int(d) for p, d in zip(prompts, decoded)]
    forest = forest_from_radix(last_nodes, cache.root_node, seq_lens)
    # The same requests as token ids: cached prompt (whole pages) + unique decoded tokens.
    token_ids = [
        p + [10_000 + 100 * r + i for i in range(int(d))]
        for r, (p, d) in enumerate(zip(prompts, decoded))
    ]
    expected = PrefixForest.from_token_ids(token_ids, page_size=page_size)
    assert canonical(forest) == canonical(expected)
    assert forest.num_nodes >= 5, "system prompt, two tools, two tool+shot groups"


def test_uncached_requests_and_foreign_nodes() -> None:
    cache = radix_cache.RadixCache.create_simulated()
    forest = forest_from_radix([None, cache.root_node], cache.root_node, [3, 4])
    assert forest.num_nodes == 0 and forest.req_node.tolist() == [-1, -1]
    other = radix_cache.RadixCache.create_simulated()
    other.insert(base.InsertParams(key=radix_cache.RadixKey(array("q", [1, 2, 3]))))
    node = other.match_prefix(
        base.MatchPrefixParams(key=radix_cache.RadixKey(array("q", [1, 2, 3])))
    ).last_device_node
    with pytest.raises(ValueError, match="not under the given root"):
        forest_from_radix([node], cache.root_node, [4])


def test_builder_reuses_the_forest_while_the_batch_keeps_its_requests() -> None:
    rng = np.random.default_rng(7)
    prompts = prompts_with_nested_prefixes(rng)[:12]
    cache, last_nodes = radix_cache_holding(prompts)
    key = lambda tokens: radix_cache.RadixKey(array("q", tokens))  # noqa: E731
    seq_lens = np.asarray([len(p) + 3 for p in prompts])
    builder = RadixForestBuilder()
    first = builder.build(last_nodes, cache.root_node, seq_lens)
    # Another prompt splits the shared system-prompt node and a tool node on the batch's paths.
    cache.insert(base.InsertParams(key=key(prompts[0][:50] + [5000])))
    cache.insert(base.InsertParams(key=key(prompts[0][:85] + [5001])))
    grown = builder.build(last_nodes, cache.root_node, seq_lens + 1)
    fresh = forest_from_radix(last_nodes, cache.root_node, seq_lens + 1)
    assert canonical(grown) == canonical(fresh)
    assert grown.node_start is first.node_start, "reused, not rebuilt"
    assert grown.seq_lens.tolist() == (seq_lens + 1).tolist()
    # Another batch (a request left) is rebuilt.
    fewer = builder.build(last_nodes[1:], cache.root_node, seq_lens[1:])
    assert canonical(fewer) == canonical(
        forest_from_radix(last_nodes[1:], cache.root_node, seq_lens[1:])
    )
    with pytest.raises(ValueError, match="shorter than its shared prefix"):
        builder.build(last_nodes[1:], cache.root_node, np.ones(11, dtype=np.int64))
