"""The kernel benchmark's shuffled gsp batches: the server's batch, not a uniform tree (CPU)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from workloads import gsp_sample_workload, workload_for  # noqa: E402


def test_gsp_sample_is_a_shuffled_draw_of_the_groups() -> None:
    forest = gsp_sample_workload("gsp:64x16:2048+178:b256:s0").forest
    assert forest.num_requests == 256
    assert np.all(forest.seq_lens == 2048 + 178)
    sharing = forest.req_node >= 0
    # Each shared node is one group's prefix: whole, with at least two running members,
    # and its representative one of them.
    assert np.all(forest.node_start == 0) and np.all(forest.node_end == 2048)
    assert np.all(forest.node_parent == -1)
    members = np.bincount(forest.req_node[sharing], minlength=forest.num_nodes)
    assert np.all(members >= 2) and members.sum() == sharing.sum()
    assert np.all(forest.req_node[forest.node_rep] == np.arange(forest.num_nodes))
    # A shuffled draw, not 64 groups of 4: unequal groups, and some requests share nothing.
    assert members.min() < 4 < members.max()
    assert 0 < (~sharing).sum() < 64
    assert forest.num_nodes + (~sharing).sum() <= 64


def test_gsp_sample_is_deterministic_per_seed() -> None:
    def draw(seed: int) -> np.ndarray:
        return gsp_sample_workload(f"gsp:64x16:2048+178:b256:s{seed}").forest.req_node

    assert np.array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))


def test_gsp_sample_whole_groups_and_tree_specs() -> None:
    # Every prompt running: each group is one node of all its prompts.
    forest = workload_for("gsp:4x32:4096+256:b128:s1").forest
    assert forest.num_nodes == 4
    assert np.all(np.bincount(forest.req_node) == 32)
    assert workload_for("4,128_4096,256").forest.num_requests == 128


@pytest.mark.parametrize(
    "spec", ["gsp:64x16:2048:b256:s0", "gsp:4x32:4096+256:b129:s0", "gsp:0x16:2048+1:b1:s0"]
)
def test_gsp_sample_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="workload"):
        gsp_sample_workload(spec)


def test_mooncake_spec_names_a_batch_of_consecutive_trace_records(tmp_path, monkeypatch) -> None:
    import workloads

    records = [
        {"timestamp": 0, "input_length": 1100, "output_length": 10, "hash_ids": [0, 1, 2]},
        {"timestamp": 0, "input_length": 1600, "output_length": 4, "hash_ids": [0, 1, 3, 4]},
        {"timestamp": 0, "input_length": 600, "output_length": 2, "hash_ids": [5, 6]},
    ]
    (tmp_path / "conversation_trace.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records)
    )
    monkeypatch.setattr(workloads, "MOONCAKE", tmp_path)
    forest = workload_for("mooncake:conversation:0x2").forest
    # blocks 0 and 1 (1,024 tokens) are shared by the first two; each is half decoded
    assert forest.seq_lens.tolist() == [1100 + 5, 1600 + 2]
    assert forest.node_start.tolist() == [0] and forest.node_end.tolist() == [1024]
    with pytest.raises(ValueError, match="mooncake:TRACE:STARTxBATCH"):
        workload_for("mooncake:conversation:2")


def test_shared_prefix_batches_as_a_server_ran_them() -> None:
    forest = workload_for("shared:256:571,7331,3000").forest
    assert forest.seq_lens.tolist() == [571, 7331, 3000]
    assert forest.node_end.tolist() == [256] and forest.req_node.tolist() == [0, 0, 0]
    assert forest.private_start().tolist() == [256, 256, 256]
    for bad in ("shared:256:571", "shared:600:571,7331", "shared:256:"):
        with pytest.raises(ValueError, match="shared:"):
            workload_for(bad)
