"""Run every compiled part of the planner once per process, before a server serves.

numba compiles a function at its first call, or loads it from its disk cache (``cache=True``:
about 0.1 s a function; seconds to compile on a machine without the cache). A server's CUDA-graph
capture plans only batches without sharing, so without this the pack decisions would first
run inside the first served decode step whose requests share a prefix, and the lazy update's
compiled check inside the first lazy step.
"""

from __future__ import annotations

import functools

import numpy as np

from .forest import PrefixForest
from .scheduler import PackScheduler


@functools.cache
def warm_compiled_planner() -> None:
    """A cold plan of a batch that shares a prefix, then its lazy update (once a process)."""
    planner = PackScheduler(num_kv_heads=1, group_size=1, head_dim=64, num_sms=1)
    forest = PrefixForest.from_tree_spec("1,2_32,17")  # 17-token tails: the next step is lazy
    pool = np.arange(forest.num_requests)
    planner.plan(forest, pool)
    planner.plan(forest.with_seq_lens(forest.seq_lens + 1), pool)
    if not planner.last_plan_was_lazy:
        raise RuntimeError("warm_compiled_planner: the second plan was not a lazy update")
