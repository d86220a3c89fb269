"""The KV-index gather kernel as it was before session 60's upload kernel (kernels/gather.py at
571000e's parent), for run.py's A/B."""

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
