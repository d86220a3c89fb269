#!/usr/bin/env bash
# Wait up to $1 s for both chains, then pack what exists into $OUT/r.tgz and show progress.
end=$((SECONDS + ${1:-500}))
while [ $SECONDS -lt $end ] && ! { [ -e /tmp/r0/done ] && [ -e /tmp/r1/done ]; }; do sleep 5; done
tar czf "$OUT/r.tgz" --exclude='*dummy*' -C /tmp r0 r1 2>/dev/null
ls /tmp/r0 /tmp/r1
for f in /tmp/r0/*.out /tmp/r1/*.out; do echo "== $f"; tail -n 12 "$f"; done
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv
