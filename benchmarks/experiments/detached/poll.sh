#!/usr/bin/env bash
# Wait up to $1 s for every chain (/tmp/r*/) to write `done`, then pack what exists into
# $OUT/r.tgz and show progress.
end=$((SECONDS + ${1:-500}))
all_done() { for d in /tmp/r*/; do [ -e "$d/done" ] || return 1; done; }
while [ $SECONDS -lt $end ] && ! all_done; do sleep 5; done
tar czf "$OUT/r.tgz" --exclude='*dummy*' -C /tmp $(cd /tmp && ls -d r*/) 2>/dev/null
ls /tmp/r*/
for f in /tmp/r*/*.out; do echo "== $f"; tail -n 12 "$f"; done
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv
