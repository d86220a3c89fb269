"""PlanBuffers: one decode step's plan in fixed device buffers, and how it gets there.

One int32 device buffer holds every section a step's launches read (segments, items, members,
the launches' header, each request's partial-slot range), each at its worst-case size, so the
tensors a CUDA graph captured stay valid for every later plan. ``upload`` fills a pinned staging
copy on the CPU and copies the used part of each section with non-blocking copies; the staging
is double-buffered, so a step only waits for the copy of two steps ago.
"""

from __future__ import annotations

import numpy as np
import torch

from .launch_policy import ALL_ITEMS_HEADER, HEADER_FIELDS, PAIR_HEADER
from .plan import ITEM_FIELDS, MEMBER_FIELDS, SEGMENT_FIELDS, PackPlan, PlanCapacity


class PlanBuffers:
    """Device sections sized for ``capacity``, and their pinned staging (see module docstring)."""

    def __init__(self, capacity: PlanCapacity, device: torch.device) -> None:
        cap = capacity
        sizes = {
            "segments": cap.max_segments * SEGMENT_FIELDS,
            "items": cap.max_items * ITEM_FIELDS,
            "members": cap.max_members * MEMBER_FIELDS,
            "header": HEADER_FIELDS,
            "req_partial_indptr": cap.max_requests + 1,
        }
        self._sections: dict[str, tuple[int, int]] = {}
        offset = 0
        for name, size in sizes.items():  # in this order: upload copies the last two at once
            self._sections[name] = (offset, size)
            offset += size
        self._flat = torch.zeros(offset, dtype=torch.int32, device=device)
        self.segments = self._section("segments").view(-1, SEGMENT_FIELDS)
        self.items = self._section("items").view(-1, ITEM_FIELDS)
        self.members = self._section("members").view(-1, MEMBER_FIELDS)
        header = self._section("header")  # its layout: launch_policy.HEADER_FIELDS
        self.header = header[PAIR_HEADER]
        self.header_all = header[ALL_ITEMS_HEADER]
        self.req_partial_indptr = self._section("req_partial_indptr")
        pin = device.type == "cuda"
        self._staging = [torch.zeros(offset, dtype=torch.int32, pin_memory=pin) for _ in range(2)]
        self._staging_done = [torch.cuda.Event() if pin else None for _ in range(2)]
        self._staging_next = 0

    def _section(self, name: str) -> torch.Tensor:
        offset, size = self._sections[name]
        return self._flat[offset : offset + size]

    def upload(self, plan: PackPlan, header: np.ndarray) -> None:
        """Copy ``plan`` and the launches' ``header`` (``launch_policy.launch_header``) into the
        device sections; requests past the plan's (a graph's padding) get empty merge ranges."""
        slot = self._staging_next
        self._staging_next ^= 1
        if self._staging_done[slot] is not None:
            self._staging_done[slot].synchronize()  # the copy from this buffer two steps ago
        staging = self._staging[slot].numpy()
        for name, array in (
            ("segments", plan.segments),
            ("items", plan.items),
            ("members", plan.members),
        ):
            offset, _ = self._sections[name]
            staging[offset : offset + array.size] = array.reshape(-1)
            self._copy(slot, offset, array.size)
        # The header and the merge ranges fill their sections and sit side by side (see
        # __init__): one copy for both, one operation fewer on the stream before each step.
        header_offset, header_size = self._sections["header"]
        staging[header_offset : header_offset + header_size] = header
        offset, size = self._sections["req_partial_indptr"]
        indptr = plan.req_partial_indptr
        staging[offset : offset + indptr.size] = indptr
        staging[offset + indptr.size : offset + size] = indptr[-1]
        self._copy(slot, header_offset, offset + size - header_offset)
        if self._staging_done[slot] is not None:
            self._staging_done[slot].record()

    def _copy(self, slot: int, offset: int, size: int) -> None:
        if size:
            self._flat[offset : offset + size].copy_(
                self._staging[slot][offset : offset + size], non_blocking=True
            )
