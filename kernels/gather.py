"""Triton kernel that copies a plan's KV slot indices out of ``req_to_token`` (its launcher,
``launch.gather_kv_indices``, runs it outside CUDA graphs)."""

import triton
import triton.language as tl


@triton.jit
def _gather_kv_indices_kernel(
    req_to_token_ptr,
    stride_req_to_token,
    segments_ptr,
    kv_indices_ptr,
    BLOCK: tl.constexpr,
):
    """kv_indices[dst : dst + len] = req_to_token[row, start : start + len], one block a program."""
    segment = tl.program_id(0)
    block = tl.program_id(1)
    row = tl.load(segments_ptr + segment * 4 + 0).to(tl.int64)
    start = tl.load(segments_ptr + segment * 4 + 1)
    length = tl.load(segments_ptr + segment * 4 + 2)
    dst = tl.load(segments_ptr + segment * 4 + 3).to(tl.int64)
    offs = block * BLOCK + tl.arange(0, BLOCK)
    mask = offs < length
    slots = tl.load(req_to_token_ptr + row * stride_req_to_token + start + offs, mask=mask)
    tl.store(kv_indices_ptr + dst + offs, slots, mask=mask)
