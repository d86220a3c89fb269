#!/bin/bash
# On the H200: the kernel in kernels/ through micro.py and sweep.py (results/after-v2.txt).
H=benchmarks/experiments/latency
python3 $H/micro.py 1024 17,33,66 -- 64x64:w4:s3:p2 64x128:w4:s3:p2 \
  16x128:w4:s3:p2 16x64:w4:s3:p2 128x64:w8:s3:p1 2>&1 | grep -v Warn
python3 $H/sweep.py 1,64_4096,512 1,256_2048,32 4,128_4096,256 6_3300 64_4096 -- \
  16x128,32x64,64x64:w4:s3:p2 16x64,32x64,64x64:w4:s3:p2 \
  16x128,32x64,64x128:w4:s3:p2 16x128,32x64,64x64,128x64:w8:s3:p1 2>&1 | grep -v Warn
