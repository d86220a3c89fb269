"""PlanBuffers: a plan's arrays land in their device sections, step after step (CPU)."""

from __future__ import annotations

import numpy as np
import torch

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


def test_uploads_fill_each_section_and_pad_the_merge_ranges() -> None:
    """Two plans of different sizes in a row (the staging alternates): each section holds the
    latest plan's arrays, the header its values, and the requests past the plan empty merge
    ranges at the plan's last offset."""
    capacity = PlanCapacity.for_batch(max_requests=16, max_kv_indices=4096)
    buffers = PlanBuffers(capacity, torch.device("cpu"))
    for spec, partials in (("1,6_96,40", 12), ("1,2,8_64,32,17", 16), ("3_50", 0)):
        plan = plan_for(spec)
        assert plan.num_partials == partials
        header = np.arange(HEADER_FIELDS, dtype=np.int32) + 100 * plan.items.shape[0]
        buffers.upload(plan, header)
        sections = (
            (buffers.segments, plan.segments),
            (buffers.items, plan.items),
            (buffers.members, plan.members),
        )
        for device, host in sections:
            assert np.array_equal(device[: host.shape[0]].numpy(), host)
        assert buffers.header.tolist() == header[:3].tolist()
        assert buffers.header_all.tolist() == header[4:6].tolist()
        indptr = buffers.req_partial_indptr.numpy()
        used = plan.req_partial_indptr.shape[0]
        assert np.array_equal(indptr[:used], plan.req_partial_indptr)
        assert indptr.shape == (capacity.max_requests + 1,)
        assert (indptr[used:] == plan.req_partial_indptr[-1]).all()
