"""The lean kernel's per-plan gate (``lean_gate``): its work figures and its choices on the
H200 shapes it was fitted to (CPU only: planning, no kernels)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sglang_pat.decoder import PatDecoder
from sglang_pat.lean_gate import LeanGate, PlanWork, plan_work

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from workloads import workload_for  # noqa: E402


def test_plan_work_counts_heads_programs_and_packed_members() -> None:
    items = np.asarray(
        [  # kv_start, kv_len, member_start, num_members, chunk, tile
            [0, 1000, 0, 8, 0, 2],  # shared, 64-row tile
            [0, 500, 8, 2, 1, 0],  # shared, 16-row tile
            [0, 100, 10, 1, 0, 0],  # private, one request
            [0, 40, 11, 4, -1, 0],  # packed tails: 4 members of up to 40 tokens
        ],
        dtype=np.int32,
    )
    token_cost = np.asarray([10.0, 20.0, 30.0])
    work = plan_work(
        items, 2, token_cost=token_cost, item_overhead=7.0, tile_rows=np.asarray([16, 32, 64]),
        num_kv_heads=8, shared_programs=4, private_programs=16,
    )  # fmt: skip
    shared = (1000 * 30 + 7) + (500 * 10 + 7)
    private = [100 * 10 + 7, 4 * 40 * 10 + 7]
    assert work.shared_per_program == pytest.approx(shared * 8 / 4 / 1e6)
    assert work.small_tile_share == 0.5
    assert work.private_per_program == pytest.approx(sum(private) * 8 / 16 / 1e6)
    assert work.longest_private == pytest.approx(private[0] / 1e6)
    assert work.longest_packed == pytest.approx(private[1] / 1e6)


def test_gate_weighs_the_parts_against_the_one_launch() -> None:
    gate = LeanGate()
    balanced = PlanWork(2.0, 0.0, 0.6, 0.0, 0.6)  # about 4,128_4096,256's plan
    shared_heavy = PlanWork(4.4, 1.0, 0.9, 0.5, 0.0)  # the served gsp defaults batch
    private_heavy = PlanWork(1.0, 0.0, 3.5, 0.2, 0.0)
    assert gate.splits(balanced)
    assert not gate.splits(shared_heavy) and not gate.splits(private_heavy)
    # Fitted on session 44's batches: a packed-tails unit holds the private part up less
    # than a one-request unit of as many cost-model bytes (b2 < b1).
    assert gate.estimates(balanced)[1] < gate.estimates(balanced._replace(
        longest_private=0.6, longest_packed=0.0))[1]  # fmt: skip
    assert not LeanGate(margin=0.0).splits(balanced)


@pytest.mark.parametrize(
    "shape, splits",
    [  # sessions 18, 24 and 44 on the H200 (benchmarks/experiments/lean_gate/): lean / one
        # launch
        ("4,128_4096,256@32,8", True),  # gsp 4 x 32's batch: 0.94
        # the worked example, 0.97: split by session 24's coefficients, kept whole by these
        # (the cost of session 44's refit there, results/fit-session44.txt)
        ("1,64_4096,512@32,8", False),
        ("1,256_256,32@16,8", True),  # 0.76
        ("1,4,16,512_1024,256,128,32@32,8", True),  # 0.93
        ("64,256_2048,178@32,8", False),  # gsp defaults' batch, groups of 4: 1.10
        ("1,8,512_32,512,256@16,8", False),  # long private tails: 1.19
        ("1,1024_2048,32@64,8", False),  # a heavy shared part: 1.21
        ("256_1024@32,8", False),  # no shared items
        # gsp defaults' batches as a server decodes them (shuffled groups of 1 to ~10), which
        # session 18's coefficients split: 1.15 and 1.12
        ("gsp:64x16:2048+250:b256:s0@32,8", False),
        ("gsp:64x16:2048+128:b128:s4@32,8", False),
        ("gsp:4x32:4096+384:b128:s0@32,8", True),  # gsp 4 x 32 late in the decode
        # session 44: packed 288-512-token tails (TileMenu.max_packed_long_tail)
        ("4,128_4096,448@32,8", True),  # gsp 4 x 32's batch, tails packed: 0.83
        ("1,96_4096,320@32,8", True),  # 0.72
        ("gsp:64x16:2048+320:b256:s0@32,8", False),  # 1.12
        ("gsp:64x16:2048+384:b256:s1@32,8", False),  # 1.09
    ],
)
def test_the_decoder_splits_where_the_fit_says(shape: str, splits: bool) -> None:
    spec, heads = shape.split("@")
    num_q_heads, num_kv_heads = map(int, heads.split(","))
    forest = workload_for(spec).forest
    decoder = PatDecoder(
        num_q_heads=num_q_heads, num_kv_heads=num_kv_heads, head_dim=128, device="cpu",
        max_requests=forest.num_requests, max_kv_indices=int(forest.seq_lens.sum()),
        kv_dtype=torch.bfloat16, num_sms=132,
    )  # fmt: skip
    plan = decoder.scheduler.plan(forest, np.arange(forest.num_requests))
    assert decoder._splits(plan) is splits
