"""Serving comparison: pat against SGLang's triton and flashinfer backends, one command (GPU).

For each backend: start a server on the same model dir (pat through
``python -m sglang_pat.launch_server``, the others through ``python -m sglang.launch_server``),
run ``python -m sglang.bench_serving`` for each workload, stop the server. Decode throughput at
full batch (``decode_tok_s``) is the median of the server's ``gen throughput`` log lines while
the workload's whole batch runs; latency figures come from bench_serving's JSONL.

    python benchmarks/bench_serving.py [--backends pat,triton,flashinfer]
        [--workloads gsp-4x32-4096,...] [--model-path DIR] [--out DIR]
    python benchmarks/bench_serving.py --model-shape llama-3.1-8b \
        --server-flags "--max-running-requests 64" --workloads mooncake-conversation-512
    python benchmarks/bench_serving.py --summarize RUN_DIR [RUN_DIR ...] --out DIR
    python benchmarks/bench_serving.py --backends pat --workloads mooncake-conversation \
        --passes 3   # three measured passes; then benchmarks/tpot_paired.py on two servers

``pat`` is what ``sglang_pat.launch_server`` serves by default: pat decodes and FlashInfer
prefills (SGLang's hybrid backend). ``--backends`` also takes ``pat-triton-prefill``: pat decodes
and triton prefills, as ``--attention-backend pat`` alone did before session 11 (see BACKENDS).

The ``-512`` Mooncake workloads write each hash block 512 tokens long, as in the traces, and
need a model of 131,072 tokens' context. ``--max-running-requests 64`` keeps SGLang's
``req_to_token`` (and pat's copy of the KV indices, sized like it) small at that context.

Each measured workload runs after a short unrecorded pass of it (``--warm-pass``, the default),
so that one-time compiles on the server (FlashInfer JIT-compiles prefill variants on first use)
do not land in the figures.

Every finished workload is appended to ``rows.jsonl`` at once (a failed one as a row with its
error), so a run cut short keeps what it measured, and runs split over several device calls
are merged with ``--summarize``.

Writes to ``benchmarks/results/<date>-<gpu>/`` (or --out): ``serving.csv``, ``serving.md``,
``serving-summary.json``, ``serving.png``, bench_serving's JSONL and every server log.

The workloads are defined in ``serving_workloads.py``. ``serving_results.py`` reads the logs
and writes the results. ``servers.py`` starts and stops the servers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from provenance import measured_commit
from servers import ServerSpec, running
from serving_results import (
    MAX_ITL,
    REPLAY_SKIPPED,
    decode_throughput,
    missing_output,
    pass_figures,
    read_rows,
    server_errors,
    server_label,
    write_results,
)
from serving_workloads import DEFAULT_WORKLOADS, WARM_PROMPTS, WORKLOADS

from sglang_pat.model_dirs import SHAPES, make_model_dir

ROOT = Path(__file__).resolve().parent
SERVER_FLAGS = ["--mem-fraction-static", "0.8"]
# name -> (launcher module, --attention-backend, its own flags). The launcher gives pat
# FlashInfer's prefill unless a prefill backend is named; pat-triton-prefill names triton's,
# which was pat's own prefill before session 11 (slower on 100k-token prompts: the faithful
# Mooncake replays of sessions 10 and 11).
BACKENDS = {
    "pat": ("sglang_pat.launch_server", "pat", ()),
    "pat-triton-prefill": (
        "sglang_pat.launch_server",
        "pat",
        ("--prefill-attention-backend", "triton"),
    ),
    "triton": ("sglang.launch_server", "triton", ()),
    "flashinfer": ("sglang.launch_server", "flashinfer", ()),
}


def run_workload(
    name: str, spec: ServerSpec, out: Path, args: argparse.Namespace, warm: bool = False
) -> dict:
    """Run one workload against a healthy server; its row. ``warm``: a short first pass whose
    figures are kept apart (``*.warm.*``), so one-time compiles do not land in the row.
    ``args.passes`` measured passes (the radix cache flushed before each) append to one JSONL,
    and the row holds their figures together (``serving_results.pass_figures``), with
    ``args.commit``."""
    workload = WORKLOADS[name]
    suffix = ".warm" if warm else ""
    jsonl = out / f"{name}-{spec.name}{suffix}.jsonl"
    jsonl.unlink(missing_ok=True)  # bench_serving appends: no lines of an earlier run
    passes = 1 if warm else args.passes
    # SGLang 0.5.17's own Mooncake replay crashes on its trace records: mooncake_replay.py
    # runs the same bench_serving with that repaired.
    runner = (
        [str(ROOT / "mooncake_replay.py")]
        if workload.dataset_file
        else ["-m", "sglang.bench_serving"]
    )
    command = [
        sys.executable, *runner,
        "--backend", workload.client, "--port", str(spec.port),
        "--tokenizer", str(spec.model), "--model", str(spec.model),
        "--flush-cache", "--disable-tqdm", "--seed", "1",
        "--output-file", str(jsonl), *(workload.warm_args if warm else workload.args),
    ]  # fmt: skip
    if workload.dataset_file:
        command += ["--dataset-path", str(Path(args.mooncake_dir) / workload.dataset_file)]
    log_start = spec.log.stat().st_size
    started = time.time()
    bench_log = out / f"{name}-{spec.name}{suffix}.bench.log"
    try:
        with open(bench_log, "w") as log:
            for _ in range(passes):
                subprocess.run(
                    command, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=1800
                )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"    {name}: FAILED ({error}); see {bench_log}", flush=True)
        return dict(workload=name, backend=spec.name, error=str(error), command=command[1:])
    with open(spec.log, errors="replace") as server_log:
        server_log.seek(log_start)
        segment = server_log.read()
    decode_tok_s, lines = decode_throughput(segment, workload.batch)
    errors = server_errors(segment)
    bench_text = bench_log.read_text(errors="replace")
    skipped = REPLAY_SKIPPED.search(bench_text)
    max_itl = MAX_ITL.findall(bench_text)  # printed, not in the JSONL
    results = [json.loads(line) for line in jsonl.read_text().splitlines()]
    row = dict(
        workload=name,
        backend=spec.name,
        decode_tok_s=decode_tok_s,
        decode_log_lines=lines,
        **pass_figures(results),
        max_itl_ms=max(map(float, max_itl)) if max_itl else None,  # a stall shows here
        server_errors=len(errors),
        trace_records_skipped=int(skipped.group(1)) if skipped else None,
        command=" ".join(command[1:]),
        commit=args.commit,
    )
    problems = []
    if errors:
        problems.append(f"{len(errors)} requests failed in the server, e.g. {errors[0][:200]}")
    problems += [shortfall for result in results if (shortfall := missing_output(result))]
    if problems:
        row["error"] = "; ".join(problems)
        print(f"    {name}: INVALID, {row['error']}", flush=True)
    print(
        f"    {name}{' (warm pass, not recorded)' if warm else ''}: {decode_tok_s} tok/s decode,"
        f" took {time.time() - started:.0f} s",
        flush=True,
    )
    return row


def server_spec(name: str, model: Path, port: int, log: Path, flags: list[str]) -> ServerSpec:
    """The server of backend ``name`` (a key of BACKENDS): its rows and files carry the name."""
    launcher, attention, own_flags = BACKENDS[name]
    return ServerSpec(name, model, attention, port, log, [*flags, *own_flags], launcher=launcher)


def run_line(argv: list[str], environ: dict[str, str]) -> str:
    """The run's command line as the results print it: the ``SGLANG_PAT_*`` variables that
    change what the pat server does (``SGLANG_PAT_LEAN_KERNEL``, ``SGLANG_PAT_VERIFY``) first,
    since the servers inherit them."""
    pat_env = [f"{k}={v}" for k, v in sorted(environ.items()) if k.startswith("SGLANG_PAT_")]
    return " ".join([*pat_env, *argv])


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="pat,triton,flashinfer")
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS))
    parser.add_argument("--model-path", help="model dir (default: the embedded dummy Llama-3-8B)")
    parser.add_argument(
        "--model-shape",
        default="llama-3-8b",
        choices=sorted(SHAPES),
        help="the embedded dummy model's shape (llama-3.1-8b: 131,072 tokens of context)",
    )
    parser.add_argument("--server-flags", default="", help="extra flags for every server")
    parser.add_argument("--mooncake-dir", default=str(ROOT.parent.parent / "shared/data/mooncake"))
    parser.add_argument("--out")
    parser.add_argument("--port", type=int, default=30400)
    parser.add_argument(
        "--warm-pass",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"before each measured workload, run it once with {WARM_PROMPTS} prompts, unrecorded"
        " (default; --no-warm-pass: measure the server's first encounter with the workload)",
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=1,
        help="measured passes of each workload (mean TPOT: their mean; median ITL: their"
        " median; each pass's figures kept in the row)",
    )
    parser.add_argument(
        "--summarize",
        nargs="+",
        metavar="DIR",
        help="no servers: merge the rows.jsonl of earlier runs (one per device call) into --out",
    )
    args = parser.parse_args()
    if args.summarize:
        merged = {
            (r["workload"], server_label(r)): r for d in args.summarize for r in read_rows(Path(d))
        }
        order = {name: i for i, name in enumerate(WORKLOADS)}  # later runs replace earlier rows
        rows = sorted(merged.values(), key=lambda r: order.get(r["workload"], len(order)))
        write_results(rows, Path(args.out or "."), rows[0].get("gpu", "unknown"))
        return
    if args.passes < 1:
        parser.error(f"--passes must be at least 1, got {args.passes}")
    args.commit = measured_commit()  # once: every row of the run records the same
    backends = args.backends.split(",")
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"unknown backends {sorted(unknown)}; choose from {sorted(BACKENDS)}")
    workloads = args.workloads.split(",")
    if unknown := set(workloads) - set(WORKLOADS):
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {sorted(WORKLOADS)}")
    for name in workloads:  # bench_serving would try to download a missing trace
        trace = WORKLOADS[name].dataset_file
        if trace and not (Path(args.mooncake_dir) / trace).is_file():
            parser.error(f"--mooncake-dir {args.mooncake_dir} has no {trace} (for {name})")
    gpu, date = gpu_name(), datetime.date.today().isoformat()
    out = Path(args.out or ROOT / "results" / f"{date}-{gpu.replace(' ', '-')}")
    out.mkdir(parents=True, exist_ok=True)
    model = (
        Path(args.model_path)
        if args.model_path
        else make_model_dir(out / f"{args.model_shape}-dummy", args.model_shape)
    )
    context = json.loads((model / "config.json").read_text()).get("max_position_embeddings", 0)
    for name in workloads:
        if WORKLOADS[name].min_context > context:
            parser.error(
                f"{name} needs a model context of {WORKLOADS[name].min_context} tokens, "
                f"{model} has {context}: --model-shape llama-3.1-8b"
            )
    flags = [*SERVER_FLAGS, *args.server_flags.split()]
    if not any(model.glob("*.safetensors")):
        flags += ["--load-format", "dummy"]  # a config-only dir: random weights
    for backend in backends:
        spec = server_spec(backend, model, args.port, out / f"server-{backend}.log", flags)
        print(f"[{backend}] starting", flush=True)
        with running([spec], timeout=900):
            for name in workloads:
                if args.warm_pass:
                    run_workload(name, spec, out, args, warm=True)
                row = run_workload(name, spec, out, args)
                row.update(gpu=gpu, date=date, run=run_line(sys.argv, dict(os.environ)))
                with open(out / "rows.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
    write_results(read_rows(out), out, gpu)


if __name__ == "__main__":
    main()
