#!/usr/bin/env bash
# Prepared in session 35 for the next session (one H200, about 25 device minutes), at the
# product state after session 35: the PDL merge of batches under 16 requests starts with the
# pack kernel only where its programs spread (177c4cc, decoder.merge_starts_early).
# 1. the GPU suite (session 35 ran only 88 of its tests on 177c4cc);
# 2. tails_beside_shared.py on the eighteen batches sessions 34 and 35 timed: the PDL crowding
#    made the cut tails 11-12 us slower on 1,8_4096,416@64,8 and 1,8_4096,480@64,8, so whether
#    keeping tails whole beside shared units (054a5e3) still pays is open there; at (32, 8)
#    behind short prefixes the whole tails lost 1.3-2.4 us before the fix;
# 3. issue 2's kernel benchmark (acceptance, suite, served), then its summary (at 054a5e3:
#    worked example 61.8 us, wide fan-out 5.04x, suite 2.698x, no sharing >= 0.975x);
# 4. the equality check (pat against triton in a server), default variant with the negative
#    control, last.
# Session 35's chain (the tail rule on twelve batches, pat and flashinfer served on gsp 4 x 32,
# gsp defaults and random-ids, the equality check at 659211c) is in 659211c.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 300 python3 -m pytest -q -p no:cacheprovider --durations=10 -n 8 \
  tests/test_kernels_gpu.py tests/test_backend.py tests/test_graph_switch.py \
  tests/test_lean_gate.py tests/test_kernels.py > /tmp/r0/gpu-tests.out 2>&1
timeout 480 python3 benchmarks/experiments/chunks/tails_beside_shared.py 1,10_4096,416@64,8 \
  1,8_4096,416@64,8 1,8_4096,480@64,8 1,12_1024,480@64,8 1,12_512,300@64,8 \
  1,32_4096,416@64,8 1,64_4096,416@64,8 1,20_4096,1200@64,8 1,16_8192,1200@64,8 \
  1,14_8192,800@64,8 1,24_8192,800@64,8 1,16_8192,416 1,64_8192,416 1,12_1024,416 \
  1,10_2048,416 1,10_512,416 1,14_1024,300 1,6_8192,416 \
  > /tmp/r0/tails.jsonl 2>/tmp/r0/tails.err
python3 benchmarks/bench_kernels.py --out /tmp/r0/k --commit $PAT_COMMIT \
  --providers pat,flashinfer-decode --part acceptance --part suite --part served \
  > /tmp/r0/k.out 2>&1
python3 benchmarks/bench_kernels.py --summarize --out /tmp/r0/k >> /tmp/r0/k.out 2>&1
timeout 420 python3 benchmarks/check_equality.py --out /tmp/r0/eq --variant default \
  --negative-control 1.05 --parallel 2 > /tmp/r0/eq.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
