"""PrefixForest builders and validation."""

from __future__ import annotations

import numpy as np
import pytest

from sglang_pat.forest import PrefixForest


def test_tree_spec_levels() -> None:
    forest = PrefixForest.from_tree_spec("1,4,256_32,256,32")
    assert forest.num_nodes == 5 and forest.num_requests == 256
    assert forest.node_members.tolist() == [256, 64, 64, 64, 64]
    assert np.all(forest.seq_lens == 320)
    assert np.all(forest.private_start() == 288)


def test_tree_spec_without_sharing_and_several_roots() -> None:
    assert PrefixForest.from_tree_spec("256_4096").num_nodes == 0
    roots = PrefixForest.from_tree_spec("2,8,16_64,32,5")
    assert (roots.node_parent == -1).sum() == 2
    assert roots.node_members.tolist()[:2] == [8, 8]
    private = PrefixForest.no_sharing([17, 1, 97])
    assert private.num_nodes == 0 and private.req_node.tolist() == [-1, -1, -1]
    assert private.seq_lens.tolist() == [17, 1, 97] and not private.private_start().any()
    with pytest.raises(ValueError, match="seq_lens"):
        PrefixForest.no_sharing([4, 0])


def test_token_ids_nested_prefixes() -> None:
    forest = PrefixForest.from_token_ids([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9], [7], [1, 2, 3, 4]])
    assert forest.node_start.tolist() == [0, 2, 3]
    assert forest.node_end.tolist() == [2, 3, 4]
    assert forest.req_node.tolist() == [2, 1, 0, -1, 2]
    assert forest.node_members.tolist() == [4, 3, 2]
    assert forest.private_start().tolist() == [4, 3, 2, 0, 4]


def test_token_ids_share_whole_pages_only() -> None:
    forest = PrefixForest.from_token_ids([[1] * 20 + [2], [1] * 20 + [3]], page_size=16)
    assert forest.node_end.tolist() == [16]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (([0], [10], [-1], [0], [0, 0], [5, 12]), "shorter than its shared prefix"),
        (([0], [10], [-1], [0], [0, 3], [12, 12]), "missing from the forest"),
        (([0], [10], [-1], [5], [0, 0], [12, 12]), "representative is missing"),
        (([0, 10], [10, 20], [-1, 0], [0, 2], [1, 1, 0], [30, 30, 30]), "not a member"),
        (([0, 12], [10, 20], [-1, 0], [0, 0], [1, 1, 1], [30, 30, 30]), "parent ends"),
        (([0], [10], [-1], [0], [0, -1], [12, 3]), "at least two member"),
        (([0], [10], [0], [0], [0, 0], [12, 12]), "earlier node"),
        (([0], [0], [-1], [0], [0, 0], [12, 12]), "greater than node_start"),
    ],
)
def test_inconsistent_forests_are_rejected(arrays, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrefixForest(*arrays)


@pytest.mark.parametrize("spec", ["1,3_4", "4_", "a_1", "2,3_4,4", "1,0_1,1"])
def test_bad_tree_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="tree spec"):
        PrefixForest.from_tree_spec(spec)
