#!/usr/bin/env bash
# Session 32, second chain (one H200, about 3-4 device minutes): private_occupancy/run.py, the
# private part at 1-8 programs per SM alone, and the two parts in series, on the suite's
# trees that end in 32-token tails, the wide fan-out, gsp 4 x 32's batch and the worked
# example. (Session 32's first chain, the kernel benchmark and the GPU suite, is in 68352c9;
# session 31's, run in session 32, in 6e566f3.)
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
timeout 450 python3 benchmarks/experiments/private_occupancy/run.py 1,256_2048,32 1,256_256,32 \
  1,4,256_32,256,32 2,8,16,256_256,128,64,32 1,1024_2048,32 1,256_256,32@64,8 \
  1,1024_2048,32@64,8 1,256_256,32@16,8 4,128_4096,256 1,64_4096,512 > /tmp/r0/occ.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
