"""PlanBuffers: one decode step's plan in fixed device buffers, and how it gets there.

One int32 device buffer holds every section a step's launches read (segments, items, members,
the launches' header, each request's partial-slot range), each at its worst-case size, so the
tensors a CUDA graph captured stay valid for every later plan. ``upload`` fills a pinned staging
copy on the CPU; one kernel (``launch_upload.upload_plan``) then copies the used part of each
section and gathers the plan's KV slot indices out of ``req_to_token``. The staging is
double-buffered, so a step only waits for the upload of two steps ago.

One kernel, not a copy per section and a gather launch: on the H200 each of those started
only after the one before it had finished, about 29 µs between SGLang's last operation before
a decode step and its graph (session 60's traces of gsp 4 × 32, 24 steps).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .kernels.launch_upload import upload_plan
from .launch_policy import ALL_ITEMS_HEADER, HEADER_FIELDS, PAIR_HEADER
from .plan import ITEM_FIELDS, MEMBER_FIELDS, SEGMENT_FIELDS, PackPlan, PlanCapacity


class StagedPlan(NamedTuple):
    """A plan written into a staging buffer (``PlanBuffers.stage``), not yet uploaded."""

    slot: int  # which of the two staging buffers
    copies: tuple[tuple[int, int], ...]  # (offset, length) of the used part of each section
    num_segments: int
    max_segment_len: int


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
        self._checked: tuple | None = None  # the inputs upload_plan last checked, by signature

    def _section(self, name: str) -> torch.Tensor:
        offset, size = self._sections[name]
        return self._flat[offset : offset + size]

    def stage(self, plan: PackPlan, header: np.ndarray) -> StagedPlan:
        """Write ``plan`` and the launches' ``header`` (``launch_policy.launch_header``) into
        the next pinned staging buffer, requests past the plan's (a graph's padding) with
        empty merge ranges: the host's part of an upload."""
        slot = self._staging_next
        self._staging_next ^= 1
        if self._staging_done[slot] is not None:
            self._staging_done[slot].synchronize()  # the upload from this buffer two steps ago
        staging = self._staging[slot].numpy()
        copies = []
        for name, array in (
            ("segments", plan.segments),
            ("items", plan.items),
            ("members", plan.members),
        ):
            offset, _ = self._sections[name]
            staging[offset : offset + array.size] = array.reshape(-1)
            copies.append((offset, array.size))
        # The header and the merge ranges fill their sections and sit side by side (see
        # __init__): one range for both.
        header_offset, header_size = self._sections["header"]
        staging[header_offset : header_offset + header_size] = header
        offset, size = self._sections["req_partial_indptr"]
        indptr = plan.req_partial_indptr
        staging[offset : offset + indptr.size] = indptr
        staging[offset + indptr.size : offset + size] = indptr[-1]
        copies.append((header_offset, offset + size - header_offset))
        max_len = int(plan.segments[:, 2].max()) if plan.segments.shape[0] else 0
        return StagedPlan(slot, tuple(copies), plan.segments.shape[0], max_len)

    def upload(
        self, staged: StagedPlan, req_to_token: torch.Tensor, kv_indices: torch.Tensor
    ) -> None:
        """Copy the staged plan into the device sections and gather its KV slot indices out of
        ``req_to_token`` into ``kv_indices`` (one kernel, see the module docstring). The
        launcher checks the inputs when their kinds change: every step passes the same."""
        signature = tuple(
            (t.shape, t.dtype, t.stride(), t.device) for t in (req_to_token, kv_indices)
        )
        upload_plan(
            self._staging[staged.slot],
            self._flat,
            staged.copies,
            req_to_token,
            kv_indices,
            staged.num_segments,
            staged.max_segment_len,
            check=signature != self._checked,
        )
        self._checked = signature
        if self._staging_done[staged.slot] is not None:
            self._staging_done[staged.slot].record()
