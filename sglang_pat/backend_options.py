"""The pat backend's options and limits: its environment switches, and what it can decode or
store itself (else SGLang's triton backend or store does it, and the reason is logged).
"""

from __future__ import annotations

import os
from typing import Any

from sglang.srt.layers.attention.triton_backend import TritonAttnBackend
from sglang.srt.mem_cache.memory_pool import MHATokenToKVPool

from .kernels.launch import HEAD_DIMS, KV_DTYPES

# Verification mode: every PAT decode layer also runs triton's decode on the same inputs and
# the largest difference is logged (slow; outputs stay PAT's). For checks on a live server.
VERIFY_ENV = "SGLANG_PAT_VERIFY"
# The lean kernel beside the pack kernel, gated per plan (cost_model.LeanKernel), on unless
# this is "0". Side by side with it off, one server after another on one H200 (session 27,
# the graph switch in): +4.8% decode tok/s on gsp 4 x 32, +0.9% on gsp defaults, +0.1% on
# random-ids, mean TPOT -1.8% on Mooncake conversation. "0" gives the one launch back.
LEAN_ENV = "SGLANG_PAT_LEAN_KERNEL"
# With the lean kernel, each step's graph runs the form of each layer that its plan wants, the
# pair or the all-items launch, each form captured as a graph of its own (graph_switch.py),
# unless this is "0": then every graph runs the pair.
SWITCH_ENV = "SGLANG_PAT_GRAPH_SWITCH"
# Read no more: "0" chose, in sessions 80-81, the node switch (one graph holding both forms)
# that session 82 retired. Set, it is warned about, so that a script relying on it knows.
RETIRED_FORMS_ENV = "SGLANG_PAT_GRAPH_FORMS"
# Private tails may take chunks between the powers of two (PackScheduler.fine_private_chunks, on
# by default since session 41: see its docstring); "0" keeps them to the powers of two.
FINE_ENV = "SGLANG_PAT_FINE_CHUNKS"
# "1": the lean pair's shared part runs the Gluon kernel for sm90 (kernels/shared_part_sm90.py)
# where the GPU and the layer allow; the pack kernels still store the new K/V. Off by default:
# served side by side it moved gsp 4 x 32 by +0.39% (session 49, beside SGLang's store) and
# -0.03% (session 74, beside the kernels' store), within one server's pass-to-pass spread.
SM90_ENV = "SGLANG_PAT_SM90_SHARED"
# The pack kernels write each layer's new K/V themselves, each unit for the requests whose new
# slot it reads, instead of SGLang's store kernel before them (one kernel and one graph node a
# layer fewer), unless this is "0" or the KV pool is one they cannot write (``store_reason``).
STORE_ENV = "SGLANG_PAT_STORE_IN_KERNEL"


def env_flag(name: str, default: str) -> bool:
    """An on/off variable: "1" on, "0" off (``default`` when unset); anything else is refused."""
    value = os.environ.get(name, default)
    if value not in ("0", "1"):
        raise ValueError(f"{name} must be 0 or 1, got {value!r}")
    return value == "1"


def lean_kernel_wanted() -> bool:
    """``SGLANG_PAT_LEAN_KERNEL``: "1" or unset on, "0" off."""
    return env_flag(LEAN_ENV, "1")


def unsupported_reason(backend: TritonAttnBackend, model_runner: Any) -> str | None:
    """Why PAT cannot decode this model (triton then decodes it), or None."""
    if backend.use_mla:
        return "MLA attention"
    if backend.sliding_window_size is not None and backend.sliding_window_size > 0:
        return "sliding-window attention"
    if model_runner.kv_cache_dtype not in KV_DTYPES:
        return f"KV cache dtype {model_runner.kv_cache_dtype}"
    head_dim = model_runner.model_config.head_dim
    if head_dim not in HEAD_DIMS or backend.v_head_dim != head_dim:
        return f"head_dim {head_dim} / v_head_dim {backend.v_head_dim}"
    if backend.dcp_size > 1:
        return "decode context parallelism"
    if model_runner.server_args.speculative_algorithm is not None:
        return "speculative decoding"
    if backend.num_head // backend.num_kv_head > 16:
        return f"GQA group {backend.num_head // backend.num_kv_head} > 16"
    return None


def store_reason(backend: TritonAttnBackend, model_runner: Any) -> str | None:
    """Why the pack kernels cannot store the new K/V (SGLang's store then runs), or None."""
    pool = backend.token_to_kv_pool
    if not env_flag(STORE_ENV, "1"):
        return f"{STORE_ENV}=0"
    if type(pool) is not MHATokenToKVPool:
        return f"KV pool {type(pool).__name__}"
    if pool.is_quantized_kv_cache or pool.store_dtype != pool.dtype:
        return "a quantized KV cache"
    if pool.kv_cache_layout != "nhd":
        return f"KV layout {pool.kv_cache_layout}"
    if model_runner.dtype != pool.dtype:
        return f"model dtype {model_runner.dtype} cast to the KV cache's {pool.dtype}"
    if backend._translate_kv_loc is not None or backend.use_sliding_window_kv_pool:
        return "translated write locations"
    return None
