"""In-server profile of decode steps at full batch: GPU time per kernel, per step and per layer.

    python benchmarks/experiments/server_profile/run.py --backend pat \
        --workloads gsp-4x32-4096,gsp-64x16-2048 --out DIR [--steps 24] [--port 30400]

One server (``bench_serving.py``'s backends, flags and dummy Llama-3-8B). Per workload: the
warm pass, then the measured bench_serving run; once the server logs its first decode line at
full batch, ``/start_profile`` records the GPU kernels of the next ``--steps`` forward steps
(torch profiler, GPU activity only, CUDA graphs on). ``parse.py`` turns each trace into a
per-kernel table and the step's split (attention, GEMMs, the rest, idle).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import SERVER_FLAGS, run_workload, server_spec  # noqa: E402
from parse import summarize  # noqa: E402
from provenance import measured_commit  # noqa: E402
from servers import running  # noqa: E402
from serving_results import DECODE_LINE  # noqa: E402
from serving_workloads import WORKLOADS  # noqa: E402

from sglang_pat.model_dirs import make_model_dir  # noqa: E402


def wait_for_full_batch(log: Path, offset: int, batch: int, timeout: float) -> bool:
    """Wait until the server logs a decode line at ≥ 95% of ``batch`` after ``offset``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(log, errors="replace") as f:
            f.seek(offset)
            if any(int(n) >= 0.95 * batch for n, _ in DECODE_LINE.findall(f.read())):
                return True
        time.sleep(0.2)
    return False


def wait_for_trace(directory: Path, timeout: float = 180) -> Path | None:
    """The trace file once its size stops changing."""
    deadline, last = time.time() + timeout, -1
    while time.time() < deadline:
        traces = sorted(directory.glob("*.trace.json.gz"))
        if traces:
            size = traces[0].stat().st_size
            if size == last and size > 0:
                return traces[0]
            last = size
        time.sleep(2)
    return None


def profile_workload(name: str, spec, out: Path, steps: int, num_layers: int) -> dict:
    # what run_workload reads of bench_serving's arguments: one measured pass, no Mooncake dir
    options = argparse.Namespace(mooncake_dir="", passes=1, commit=measured_commit())
    run_workload(name, spec, out, options, warm=True)
    trace_dir = out / f"trace-{name}-{spec.name}"
    offset = spec.log.stat().st_size
    rows: list[dict] = []
    bench = threading.Thread(target=lambda: rows.append(run_workload(name, spec, out, options)))
    bench.start()
    if not wait_for_full_batch(spec.log, offset, WORKLOADS[name].batch, timeout=300):
        bench.join()
        return dict(workload=name, backend=spec.name, error="no decode line at full batch")
    request = dict(output_dir=str(trace_dir), num_steps=steps, activities=["GPU"], with_stack=False)
    started = requests.post(spec.url + "/start_profile", json=request, timeout=60)
    print(f"    {name}: /start_profile {started.status_code} {started.text.strip()}", flush=True)
    bench.join()
    trace = wait_for_trace(trace_dir)
    if trace is None:
        return dict(workload=name, backend=spec.name, error="no trace written")
    summary = summarize(trace, num_layers)
    summary.update(workload=name, backend=spec.name, row=rows[0] if rows else None)
    (out / f"profile-{name}-{spec.name}.json").write_text(json.dumps(summary, indent=1))
    print(f"    {name}: {json.dumps(summary['step'])}", flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True)
    parser.add_argument("--workloads", default="gsp-4x32-4096")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--port", type=int, default=30400)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = make_model_dir(out / "llama-3-8b-dummy", "llama-3-8b")
    num_layers = json.loads((model / "config.json").read_text())["num_hidden_layers"]
    flags = [*SERVER_FLAGS, "--load-format", "dummy"]
    spec = server_spec(args.backend, model, args.port, out / f"server-{args.backend}.log", flags)
    print(f"[{args.backend}] starting", flush=True)
    with running([spec], timeout=900):
        for name in args.workloads.split(","):
            profile_workload(name, spec, out, args.steps, num_layers)


if __name__ == "__main__":
    main()
