"""Launcher of the plan's upload (``gather.py``): checks, grid, one launch a step.

It copies the staged plan's sections into their device buffer and gathers the plan's KV slot
indices out of ``req_to_token``, outside CUDA graphs (the backend's metadata hook), so that
attention never reads ``req_to_token`` while the scheduler may rewrite it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import triton

from .checks import check_arg, check_int32
from .gather import _upload_plan_kernel

GATHER_BLOCK = 1024
UPLOAD_COPY_BLOCK = 1024  # plan elements a copy program of upload_plan copies


def upload_plan(
    staging: torch.Tensor,
    plan_buffer: torch.Tensor,
    copies: Sequence[tuple[int, int]],
    req_to_token: torch.Tensor,
    kv_indices: torch.Tensor,
    num_segments: int,
    max_segment_len: int,
    check: bool = True,
) -> None:
    """``plan_buffer[start : start + length] = staging[...]`` for each of the four ``copies``,
    and each segment's slots out of ``req_to_token [rows, max_context]`` into ``kv_indices``,
    in one launch.

    ``staging`` has ``plan_buffer``'s layout (``PlanBuffers``' sections): on a GPU, pinned host
    memory the kernel reads through its device mapping. ``copies[0]`` is the segments section,
    ``num_segments`` rows of ``(row, start, length, dst)`` from its start; the gather reads
    them from ``staging``.
    Host-sized grid: run it outside CUDA graphs (the backend's metadata hook), so attention
    never reads ``req_to_token`` while the scheduler may rewrite it. ``check=False`` skips the
    input checks (about 20 µs of CPU time on the CPU machine; ``PlanBuffers`` checks once per
    signature, its ranges being its own).
    """
    if check:
        device = plan_buffer.device
        check_int32(plan_buffer, "plan_buffer", device)
        check_int32(req_to_token, "req_to_token", device)
        check_int32(kv_indices, "kv_indices", device)
        check_arg(
            staging.dtype == torch.int32 and staging.is_contiguous(),
            "staging",
            "must be contiguous int32",
        )
        check_arg(staging.shape == plan_buffer.shape, "staging", "must have plan_buffer's shape")
        check_arg(
            staging.device == device or (device.type == "cuda" and staging.is_pinned()),
            "staging",
            f"must be on {device} or in pinned host memory",
        )
        check_arg(req_to_token.dim() == 2, "req_to_token", "must be [rows, max_context_len]")
        check_arg(len(copies) == 4, "copies", "must be four (start, length) ranges")
        for start, length in copies:
            check_arg(
                0 <= start and 0 <= length and start + length <= plan_buffer.numel(),
                "copies",
                f"range ({start}, {length}) is outside plan_buffer",
            )
        check_arg(
            0 <= 4 * num_segments <= copies[0][1], "num_segments", "exceeds the copied segments"
        )
    copy_len = sum(length for _, length in copies)
    num_copy_programs = triton.cdiv(copy_len, UPLOAD_COPY_BLOCK)
    # At least one block a segment: a segment of length 0 takes one program that stores nothing.
    blocks_per_segment = max(triton.cdiv(max_segment_len, GATHER_BLOCK), 1)
    grid = (num_copy_programs + num_segments * blocks_per_segment,)
    if grid[0] == 0:
        return
    ranges = [value for copy in copies for value in copy]
    _upload_plan_kernel[grid](
        staging, plan_buffer, req_to_token, req_to_token.stride(0), kv_indices,
        *ranges, num_copy_programs, blocks_per_segment,
        COPY_BLOCK=UPLOAD_COPY_BLOCK, BLOCK=GATHER_BLOCK,
    )  # fmt: skip
