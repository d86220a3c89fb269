"""Triton kernel that uploads a step's plan and gathers its KV slot indices, in one launch (its
launcher, ``launch_upload.upload_plan``, runs it outside CUDA graphs)."""

import triton
import triton.language as tl


# The copied lengths, the copy programs and the gather's blocks change every step: left to
# Triton's integer specialization (== 1, % 16), each new combination would compile a variant.
@triton.jit(
    do_not_specialize=[
        "copy_len_0",
        "copy_len_1",
        "copy_len_2",
        "copy_len_3",
        "num_copy_programs",
        "blocks_per_segment",
    ]
)
def _upload_plan_kernel(
    staging_ptr,
    plan_buffer_ptr,
    req_to_token_ptr,
    stride_req_to_token,
    kv_indices_ptr,
    copy_start_0,
    copy_len_0,
    copy_start_1,
    copy_len_1,
    copy_start_2,
    copy_len_2,
    copy_start_3,
    copy_len_3,
    num_copy_programs,
    blocks_per_segment,
    COPY_BLOCK: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """The first ``num_copy_programs`` programs copy ``plan_buffer[start_k : start_k + len_k]
    = staging[...]`` for the four ranges, COPY_BLOCK elements of their concatenation each. The
    others gather, one block of one segment each: ``kv_indices[dst : dst + len] =
    req_to_token[row, start : start + len]``, the segment ``(row, start, len, dst)`` read from
    the staging's segments section (range 0), so no program waits for another's copy.

    The staging is the host's pinned copy, read through the device's mapping of it: one
    kernel replaces a copy per section and the gather launch, each of which started after
    the one before it had finished.
    """
    pid = tl.program_id(0)
    if pid < num_copy_programs:
        pos = pid * COPY_BLOCK + tl.arange(0, COPY_BLOCK)
        end_0 = copy_len_0
        end_1 = end_0 + copy_len_1
        end_2 = end_1 + copy_len_2
        end_3 = end_2 + copy_len_3
        offset = tl.where(
            pos < end_0,
            copy_start_0 + pos,
            tl.where(
                pos < end_1,
                copy_start_1 + (pos - end_0),
                tl.where(pos < end_2, copy_start_2 + (pos - end_1), copy_start_3 + (pos - end_2)),
            ),
        )
        mask = pos < end_3
        tl.store(plan_buffer_ptr + offset, tl.load(staging_ptr + offset, mask=mask), mask=mask)
    else:
        unit = pid - num_copy_programs
        segment_ptr = staging_ptr + copy_start_0 + (unit // blocks_per_segment) * 4
        block = unit % blocks_per_segment
        row = tl.load(segment_ptr + 0).to(tl.int64)
        start = tl.load(segment_ptr + 1)
        length = tl.load(segment_ptr + 2)
        dst = tl.load(segment_ptr + 3).to(tl.int64)
        offs = block * BLOCK + tl.arange(0, BLOCK)
        mask = offs < length
        slots = tl.load(req_to_token_ptr + row * stride_req_to_token + start + offs, mask=mask)
        tl.store(kv_indices_ptr + dst + offs, slots, mask=mask)
