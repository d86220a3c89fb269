#!/usr/bin/env bash
# On the H200 after the bundle install (benchmarks/device_env.sh): start the server through
# SGLang's own CLI, `sglang serve --attention-backend pat` (the plugin entry point, not
# sglang_pat.launch_server), without CUDA graphs (a quick start), decode 16 tokens, show the
# backend it chose, stop. Session 31: .wheelhouse/serve_cmd.sh, this file's text.
cd "$(dirname "$0")/../../.." || exit 1
source benchmarks/device_env.sh >/dev/null 2>&1
python3 -m sglang_pat.model_dirs /tmp/m >/dev/null 2>&1
S=$(command -v sglang || echo "python3 -c 'from sglang.cli.main import main; main()'")
echo "cli: $S"
setsid bash -c "$S serve --model-path /tmp/m --load-format dummy --attention-backend pat --port 31000 --mem-fraction-static 0.8 --sampling-backend pytorch --grammar-backend none --disable-cuda-graph" > $OUT/serve.log 2>&1 &
P=$!
python3 - <<'PY' > $OUT/gen.json
import time, requests, json
for _ in range(200):
    try:
        if requests.get("http://localhost:31000/health", timeout=2).ok: break
    except Exception: pass
    time.sleep(1)
r = requests.post("http://localhost:31000/generate", json={"text": "Hello there, how are", "sampling_params": {"max_new_tokens": 16, "temperature": 0}}, timeout=60)
print(json.dumps(r.json())[:600])
PY
cat $OUT/gen.json
grep -oE "(decode_|prefill_)?attention_backend=[^,]*" $OUT/serve.log | sort -u
grep -E "pat:|Decode batch|Error" $OUT/serve.log | cut -c1-300 | head -8
kill -- -$P 2>/dev/null; sleep 2; kill -9 -- -$P 2>/dev/null; true
