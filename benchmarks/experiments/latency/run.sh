#!/bin/bash
# On the H200 (after benchmarks/device_env.sh): the latency sweep, then Nsight Compute on the
# worked example for the stock kernel and one variant. Output under ${OUT:-/tmp}.
OUT=${OUT:-/tmp}
HERE=benchmarks/experiments/latency
W="1,64_4096,512 4,128_4096,256 6_3300"
python3 $HERE/sweep.py $W -- \
  stock:16x128,32x64,64x64:w4:s3:p2 \
  i32:16x128,32x64,64x64:w4:s3:p2 \
  i32:16x64,32x64,64x32:w4:s3:p3:r168 \
  i32:16x64,32x32,64x32:w4:s5:p3:r168 \
  i32:16x64,32x64,64x32:w4:s3:p4:r128 \
  pf:16x128,32x64,64x64:w4:s1:p2 \
  pf:16x64,32x64,64x32:w4:s1:p2 \
  2>&1 | grep -v Warn | tee $OUT/sweep.txt
if [ "${NCU:-1}" = 1 ]; then
  /usr/local/cuda/bin/ncu -k regex:_pack_decode_kernel --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section MemoryWorkloadAnalysis \
    python3 $HERE/sweep.py --ncu 1,64_4096,512 -- stock:16x128,32x64,64x64:w4:s3:p2 \
    > $OUT/ncu-stock.txt 2>&1
  /usr/local/cuda/bin/ncu -k regex:_pack_decode_kernel --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section MemoryWorkloadAnalysis \
    python3 $HERE/sweep.py --ncu 1,64_4096,512 -- i32:16x64,32x64,64x32:w4:s3:p3:r168 \
    > $OUT/ncu-i32-p3.txt 2>&1
fi
