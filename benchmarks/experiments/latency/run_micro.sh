#!/bin/bash
# On the H200: per-block costs of single-tile configs (see micro.py).
python3 benchmarks/experiments/latency/micro.py 1024 17,33,66 -- \
  stock:64x64:w4:s3:p2 i32:64x64:w4:s3:p2 i32:64x128:w4:s3:p2 i32:64x32:w4:s3:p2 \
  i32:64x64:w4:s5:p2 i32:128x64:w8:s3:p1 i32:128x128:w8:s3:p1 i32:16x128:w4:s3:p2 \
  i32:16x64:w4:s3:p4:r128 pf:64x64:w4:s1:p2 pf:16x64:w4:s1:p2 2>&1 | grep -v Warn
