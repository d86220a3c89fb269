#!/usr/bin/env bash
# Session 18's run of exp.py on the H200, detached (see ../detached/README.md): the suite's
# trees with sharing at (32, 8), the acceptance and served shapes, then the other head configs.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh
export PYTHONUNBUFFERED=1
rm -rf /tmp/r0; mkdir -p /tmp/r0
TREES="1,10_4096,416 1,256_256,32 1,1024_2048,32 1,2,64_1024,256,256 1,4,256_32,256,32
1,8,512_32,512,256 1,8,512_32,2048,256 1,8,512_512,512,256 1,4,8,256_32,256,256,32
1,4,16,512_1024,256,128,32 2,8,16,256_256,128,64,32 4,16,256,512_256,128,64,32
8,16,32,256_256,128,64,32"
SHAPES="$TREES 1,64_4096,512 1,128_4096,384 4,128_4096,256 64,256_2048,178 64,256_2048,256"
for heads in 64,8 16,8 32,32; do for t in $TREES; do SHAPES="$SHAPES $t@$heads"; done; done
setsid bash -c "python3 benchmarks/experiments/lean_gate/exp.py $(echo $SHAPES) \
  > /tmp/r0/lean_gate.jsonl 2> /tmp/r0/lean_gate.err; touch /tmp/r0/done" \
  > /tmp/r0/chain.log 2>&1 < /dev/null &
sleep 2; echo launched
