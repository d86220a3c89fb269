#!/usr/bin/env bash
# On an H200 with the bundle installed: what FlashInfer's merge_state costs at its first call
# with and without sglang_pat.warm_prefill, each in a fresh process.
#   1. no FlashInfer cache: merge_state's first call (the server's first prefix-hit prefill);
#   2. the cascade module's cache removed again: warm_flashinfer_merge, then merge_state;
#   3. the module cached (a later server on the machine): the same.
set -u
source benchmarks/device_env.sh
probe() {
  python3 - "$1" <<'PY'
import sys, time
import torch
from sglang_pat.warm_prefill import warm_flashinfer_merge
from flashinfer.cascade import merge_state
torch.cuda.init()
v = torch.zeros(4, 32, 128, device="cuda", dtype=torch.bfloat16)
s = torch.zeros(4, 32, device="cuda")
if sys.argv[1] == "warm":
    print(f"  warm_flashinfer_merge: {warm_flashinfer_merge('flashinfer'):.3f} s")
start = time.perf_counter()
merge_state(v, s, v, s)
torch.cuda.synchronize()
print(f"  merge_state, first call: {time.perf_counter() - start:.3f} s")
PY
}
echo "1. no cache, no warm-up"; probe cold
rm -rf ~/.cache/flashinfer/*/*/cached_ops/cascade
echo "2. cascade cache removed, warm-up first"; probe warm
echo "3. cascade cached, warm-up first"; probe warm
