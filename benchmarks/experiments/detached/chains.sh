#!/usr/bin/env bash
# Session 32, third chain (one H200, about 3-4 device minutes): private_occupancy/run.py again,
# with the pair's variants (the private part on 4 programs per SM, the shared part on 2) and
# plans without shared items (the one launch against the private-part build alone). The
# second chain (the same script before those variants) is in 42730a7. (Session 32's first chain, the kernel benchmark and the GPU suite, is in 68352c9;
# session 31's, run in session 32, in 6e566f3.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 450 python3 benchmarks/experiments/private_occupancy/run.py 1,256_2048,32 1,256_256,32 \
  1,4,16,512_1024,256,128,32 4,128_4096,256 1,64_4096,512 64,256_2048,178 64_4096 256_1024 \
  128_2048 32_1024 1_3256 4_3256 8_3256 -- 2 4 6 > /tmp/r0/occ2.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
