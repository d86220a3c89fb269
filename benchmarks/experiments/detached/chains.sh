#!/usr/bin/env bash
# Session 45's second chain (one H200, about 7 device minutes after the install), at
# a31ce54's product: the in-server profile of gsp 4 x 32 by pat's server
# (../server_profile/run.py: warm pass, measured pass, 24 decode steps of GPU kernels at full
# batch). flashinfer's server was cut for want of device time; its last profile of this
# workload is session 31's. The last profile of pat's was session 31's too (2bd844c), before
# the lean gate's refits and the packed long tails. Install part1, part2 and part2b, then
# part3 with this chain. Session 45's first chain (../lean_gate/exp.py and
# ../tail_tile/run.py at a31ce54) is in 5e04859.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1 PAT_COMMIT=${PAT_COMMIT:-unknown}
rm -rf /tmp/r0; mkdir -p /tmp/r0
setsid bash -c "
export CUDA_VISIBLE_DEVICES=0
python3 benchmarks/experiments/server_profile/run.py --backend pat --workloads gsp-4x32-4096 \
  --port 30500 --out /tmp/r0/pp > /tmp/r0/pp.out 2>&1
touch /tmp/r0/done" >/tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
