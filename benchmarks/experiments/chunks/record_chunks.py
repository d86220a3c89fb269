"""Record each workload's per-config chunk choice of the installed planner (JSON to stdout).

python record_chunks.py [HEADS ...]   (e.g. 32,8 64,8; default 32,8; keys are SPEC@HEADS
                                       unless only the default is asked for)
"""

import json
import sys

import numpy as np

sys.path.insert(0, "benchmarks")
from workloads import ACCEPTANCE_EXTRA, TREE_SUITE, WIDE_FANOUT, WORKED_EXAMPLE

from sglang_pat.forest import PrefixForest
from sglang_pat.scheduler import PackScheduler

SMALL = ["6_3300", "1_3300", "10_4000", "2_8000", "4_2000", "16_1024", "3_5000", "8_2500"]
SMALL += ["4,128_4096,256", "16,256_2048,256"]
heads = sys.argv[1:] or ["32,8"]
out = {}
for head in heads:
    q_heads, kv_heads = map(int, head.split(","))
    for spec in [WORKED_EXAMPLE, WIDE_FANOUT, *ACCEPTANCE_EXTRA, *TREE_SUITE, *SMALL]:
        f = PrefixForest.from_tree_spec(spec)
        p = PackScheduler(
            num_kv_heads=kv_heads, group_size=q_heads // kv_heads, head_dim=128, num_sms=132
        )
        rec = {}
        orig = p._rule.chunks

        def chunks(*a, **k):
            r = orig(*a, **k)
            rec["c"] = [int(x) for x in r]
            return r

        p._rule.chunks = chunks
        p.plan_cold(f, np.arange(f.num_requests))
        out[spec if sys.argv[1:] == [] else f"{spec}@{head}"] = rec["c"]
print(json.dumps(out))
