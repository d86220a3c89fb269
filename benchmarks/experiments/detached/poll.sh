#!/usr/bin/env bash
# Wait up to $1 s for every chain (/tmp/r*/) to write `done`, then pack what exists into
# $OUT/r.tgz and show progress.
# It also packs every 60 s while it waits: a call cut short by its limit (rc 124 or 137) then
# still brings back what the chain had written by its last pack. In session 67 a poll asked
# to wait 200 s got a call of 182 s (the device time left) and was killed before its one
# pack, so flashinfer's measured random-ids passes were lost.
end=$((SECONDS + ${1:-500}))
all_done() { for d in /tmp/r*/; do [ -e "$d/done" ] || return 1; done; }
pack() {
  tar czf "$OUT/r.tgz.part" --exclude='*dummy*' -C /tmp $(cd /tmp && ls -d r*/) 2>/dev/null \
    && mv "$OUT/r.tgz.part" "$OUT/r.tgz"
}
next_pack=$((SECONDS + 60))
while [ $SECONDS -lt $end ] && ! all_done; do
  sleep 5
  if [ $SECONDS -ge $next_pack ]; then pack; next_pack=$((SECONDS + 60)); fi
done
pack
ls /tmp/r*/
for f in /tmp/r*/*.out; do echo "== $f"; tail -n 12 "$f"; done
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv
