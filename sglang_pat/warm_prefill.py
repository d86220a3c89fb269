"""Build or load FlashInfer's cascade module before serving, where FlashInfer prefills for pat.

SGLang's FlashInfer prefill of requests that hit the radix cache attends to the new tokens
(ragged) and to the cached prefix (paged) apart, then merges the two with
``flashinfer.cascade.merge_state``. FlashInfer JIT-builds that op's module at its first call,
and SGLang's start-up warm-up request hits no cached prefix. So on a machine without FlashInfer's
cache the build (9.6-11.1 s on the H200) ran inside the first served request that shared a
prefix: the first pat server on each machine stalled about 7-11 s in its first gsp pass,
sessions 19 to 66 (``benchmarks/experiments/first_stall/``). Built here, from the decode
backend's constructor, it happens before the server answers /health; where the module is
cached, this only loads it.
"""

from __future__ import annotations

import time


def warm_flashinfer_merge(prefill_backend: str | None) -> float | None:
    """Seconds spent building or loading FlashInfer's cascade module where ``prefill_backend``
    (the first of SGLang's ``ServerArgs.get_attention_backends()``) is FlashInfer; None
    (nothing done) otherwise."""
    if prefill_backend != "flashinfer":
        return None
    from flashinfer.cascade import get_cascade_module  # imported only where FlashInfer prefills

    start = time.perf_counter()
    get_cascade_module()  # functools.cache: merge_state's own call then finds it loaded
    return time.perf_counter() - start
