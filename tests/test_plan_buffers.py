"""PlanBuffers: a plan's arrays land in their device sections and its KV slot indices are gathered,
step after step (the CPU under the interpreter, or the GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import DEVICE
from sglang_pat.kernels.launch_upload import upload_plan

from sglang_pat.cost_model import CostModel
from sglang_pat.forest import PrefixForest
from sglang_pat.launch_policy import HEADER_FIELDS
from sglang_pat.plan import PlanCapacity
from sglang_pat.plan_buffers import PlanBuffers
from sglang_pat.scheduler import PackScheduler


def plan_for(spec: str):
    forest = PrefixForest.from_tree_spec(spec)
    sharing = CostModel(item_overhead_bytes=0.0, merge_overhead_bytes=0.0)  # packs small spans
    planner = PackScheduler(num_kv_heads=2, group_size=4, head_dim=64, num_sms=4, cost=sharing)
    planner.min_chunk_tokens = 16  # several partials a request, so the merge ranges are real
    return planner.plan(forest, np.arange(forest.num_requests) + 3)


SPECS = (("1,6_96,40", 12), ("1,2,8_64,32,17", 16), ("3_50", 0), ("1,2_1500,30", 6))


def upload_and_check(device: torch.device, sync_each: bool) -> None:
    """Plans of different sizes in a row (the staging alternates): each section holds the
    latest plan's arrays, the header its values, the requests past the plan empty merge
    ranges at the plan's last offset, and each segment's slots of ``req_to_token`` are
    gathered where the plan puts them; past them, the index buffer keeps what it held.
    ``sync_each=False`` checks the last plan only, after back-to-back uploads."""
    capacity = PlanCapacity.for_batch(max_requests=16, max_kv_indices=4096)
    buffers = PlanBuffers(capacity, device)
    rows, width = 16, 2048  # longer than any segment: its blocks past the first are gathered too
    req_to_token = torch.randperm(rows * width, dtype=torch.int32).view(rows, width)
    req_to_token = req_to_token.to(device)
    kv_indices = torch.full((capacity.max_kv_indices,), -7, dtype=torch.int32, device=device)
    for i, (spec, partials) in enumerate(SPECS):
        plan = plan_for(spec)
        assert plan.num_partials == partials
        header = np.arange(HEADER_FIELDS, dtype=np.int32) + 100 * plan.items.shape[0]
        kv_indices.fill_(-7)
        buffers.upload(buffers.stage(plan, header), req_to_token, kv_indices)
        if not sync_each and i < len(SPECS) - 1:
            continue
        sections = (
            (buffers.segments, plan.segments),
            (buffers.items, plan.items),
            (buffers.members, plan.members),
        )
        for on_device, host in sections:
            assert np.array_equal(on_device[: host.shape[0]].cpu().numpy(), host)
        assert buffers.header.tolist() == header[:3].tolist()
        assert buffers.header_all.tolist() == header[4:6].tolist()
        indptr = buffers.req_partial_indptr.cpu().numpy()
        used = plan.req_partial_indptr.shape[0]
        assert np.array_equal(indptr[:used], plan.req_partial_indptr)
        assert indptr.shape == (capacity.max_requests + 1,)
        assert (indptr[used:] == plan.req_partial_indptr[-1]).all()
        expected = np.full(capacity.max_kv_indices, -7, dtype=np.int32)
        table = req_to_token.cpu().numpy()
        for row, start, length, dst in plan.segments:
            expected[dst : dst + length] = table[row, start : start + length]
        assert np.array_equal(kv_indices.cpu().numpy(), expected)
        assert plan.num_kv_indices == int(plan.segments[:, 2].sum())


@pytest.mark.parametrize("sync_each", [True, False])
def test_uploads_fill_each_section_and_pad_the_merge_ranges(sync_each: bool) -> None:
    """On DEVICE: the CPU under the interpreter; on a GPU, the kernel reads the plan from
    pinned host memory through its device mapping."""
    upload_and_check(DEVICE, sync_each)


def test_upload_plan_names_the_argument_that_does_not_fit() -> None:
    plan_buffer = torch.zeros(64, dtype=torch.int32)
    req_to_token = torch.zeros(4, 32, dtype=torch.int32)
    kv_indices = torch.zeros(128, dtype=torch.int32)
    copies = [(0, 8), (8, 12), (20, 8), (40, 10)]
    good = dict(
        staging=plan_buffer.clone(),
        plan_buffer=plan_buffer,
        copies=copies,
        req_to_token=req_to_token,
        kv_indices=kv_indices,
        num_segments=2,
        max_segment_len=16,
    )
    bad = {
        "staging": dict(staging=plan_buffer.clone().long()),
        "plan_buffer": dict(plan_buffer=plan_buffer.float()),
        "req_to_token": dict(req_to_token=req_to_token.view(-1)),
        "kv_indices": dict(kv_indices=kv_indices[::2]),
        "copies": dict(copies=[(0, 8), (8, 12), (20, 8), (60, 10)]),
        "num_segments": dict(num_segments=3),
    }
    for name, change in bad.items():
        with pytest.raises(ValueError, match=f"^{name}:"):
            upload_plan(**{**good, **change})
    with pytest.raises(ValueError, match="^copies:"):
        upload_plan(**{**good, "copies": copies[:3]})
