#!/usr/bin/env bash
# Prepared in session 31 for the next session (one H200, about 5-7 of the 30 device minutes,
# at most 16 under the timeouts; kernel level only, no server), on GPU 0:
# 1. gluon_shared/pair.py: the Gluon shared-pack kernel as the lean pair's shared part, beside
#    the private part on the side stream. On gsp 4 x 32's batch the lean pair's shared part
#    (one program per SM) takes 57.8 us of the pair's 75.3, and the Gluon kernel alone did
#    those items in 34.6-46.7 us (session 15). Issue 4's 2x there needs about 17 us a layer
#    less (session 31's server profile, results/2026-12-01-NVIDIA-H200/session31.md).
# 2. chunks/one_request.py: one request, pat's chunk floor 256 against 128, beside FlashInfer
#    decode; the only batch size where pat's served step is behind (session 31: +0.9%).
# (Session 30's chain, run in session 31, is in ebbd329; session 29's in a07c801.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 500 python3 benchmarks/experiments/gluon_shared/pair.py 4,128_4096,256 1,64_4096,512 1,256_2048,32 -- 4x64 4x64p 4x64x128 4x64x128p 3x64 > /tmp/r0/pair.out 2>&1
timeout 420 python3 benchmarks/experiments/chunks/one_request.py 1_1000 1_2000 1_3256 1_6000 2_3256 > /tmp/r0/one.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
