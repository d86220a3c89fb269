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
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from servers import ServerSpec, running
from serving_results import read_rows, server_label, write_results

from sglang_pat.model_dirs import SHAPES, make_model_dir

ROOT = Path(__file__).resolve().parent


# --warm-pass: prompts of the short first pass. It meets the kernels a workload needs beyond
# SGLang's one-request warmup: FlashInfer JIT-compiles prefill variants on first use (a 10 s
# stall in the first Mooncake conversation replay of 2026-11-30).
WARM_PROMPTS = 20


@dataclasses.dataclass(frozen=True)
class Workload:
    args: tuple[str, ...]
    batch: int  # requests decoding together once the batch is full
    warm_args: tuple[str, ...]  # the same workload with at most WARM_PROMPTS prompts
    dataset_file: str | None = None  # a Mooncake trace under --mooncake-dir
    client: str = "sglang"  # bench_serving's --backend; multi-turn needs a chat endpoint
    min_context: int = 0  # the model context its prompts need (0: the default model's)


def gsp(
    groups: int, per_group: int, system: int, concurrency: int, *extra: str, client: str = "sglang"
) -> Workload:
    def args(groups: int, per_group: int) -> tuple[str, ...]:
        return (
            *("--dataset-name", "generated-shared-prefix"),
            *("--gsp-num-groups", str(groups), "--gsp-prompts-per-group", str(per_group)),
            *("--gsp-system-prompt-len", str(system), "--gsp-question-len", "128"),
            *("--gsp-output-len", "256", "--max-concurrency", str(concurrency)),
            *("--num-prompts", str(groups * per_group), *extra),
        )

    # the dataset sends groups × prompts per group, whatever --num-prompts says: warm with one
    return Workload(
        args(groups, per_group),
        min(concurrency, groups * per_group),
        args(1, min(per_group, WARM_PROMPTS)),
        client=client,
    )


def random_ids(input_len: int, output_len: int, prompts: int, concurrency: int) -> Workload:
    def args(prompts: int) -> tuple[str, ...]:
        return (
            *("--dataset-name", "random-ids", "--random-input-len", str(input_len)),
            *("--random-output-len", str(output_len), "--random-range-ratio", "1.0"),
            *("--num-prompts", str(prompts), "--max-concurrency", str(concurrency)),
        )

    return Workload(args(prompts), min(concurrency, prompts), args(min(prompts, WARM_PROMPTS)))


def mooncake(workload: str, prompts: int, slowdown: float, block_tokens: int = 0) -> Workload:
    """A trace replay; ``block_tokens`` writes each hash block that many tokens long (the
    trace's 512: prompts up to 121k tokens, so a model of 131,072 tokens' context)."""
    faithful = ("--pat-block-tokens", str(block_tokens)) if block_tokens else ()

    def args(prompts: int) -> tuple[str, ...]:
        return (
            *("--dataset-name", "mooncake", "--mooncake-workload", workload),
            *("--mooncake-slowdown-factor", str(slowdown), "--num-prompts", str(prompts)),
            *faithful,
        )

    return Workload(
        args(prompts),
        batch=0,  # arrivals set the batch: the figure is the median over all decode steps
        warm_args=args(min(prompts, WARM_PROMPTS)),
        dataset_file=f"{workload}_trace.jsonl",
        min_context=131072 if block_tokens else 0,
    )


WORKLOADS = {
    "gsp-4x32-4096": gsp(4, 32, 4096, 128),
    "gsp-64x16-2048": gsp(64, 16, 2048, 256),
    "gsp-multiturn-16x8-2048": gsp(
        16, 8, 2048, 128, "--gsp-num-turns", "3", client="sglang-oai-chat"
    ),
    "random-ids-2048-256": random_ids(2048, 256, 256, 128),
    "mooncake-conversation": mooncake("conversation", 100, 2.0),
    "mooncake-synthetic": mooncake("synthetic", 100, 2.0),
    # 512 tokens a hash block, as in the traces: --model-shape llama-3.1-8b
    "mooncake-conversation-512": mooncake("conversation", 100, 2.0, 512),
    "mooncake-synthetic-512": mooncake("synthetic", 100, 2.0, 512),
}
DEFAULT_WORKLOADS = [name for name, w in WORKLOADS.items() if not w.min_context]
DECODE_LINE = re.compile(
    r"Decode batch, #running-req: (\d+).*?gen throughput \(token/s\): ([\d.]+)"
)
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
# A request the server refuses (a prompt longer than the context, say) is logged so, while
# bench_serving still counts it as a successful request: such a run is marked failed.
SERVER_ERROR = re.compile(r"\[http_server\] Error: (.*)")
MAX_ITL = re.compile(r"Max ITL \(ms\):\s+([\d.]+)")
REPLAY_SKIPPED = re.compile(r"mooncake_replay: kept \d+ records, skipped (\d+)")


def decode_throughput(log_text: str, batch: int) -> tuple[float | None, int]:
    """Median gen throughput over decode log lines at full batch, and the lines used. The
    first such line is dropped: its interval still holds the batch's prefills."""
    lines = [(int(n), float(t)) for n, t in DECODE_LINE.findall(log_text)]
    if batch:
        used = [t for n, t in lines if n >= 0.95 * batch][1:]
    else:
        used = [t for n, t in lines if n > 1]  # arrivals set the batch: every decode interval
    return (statistics.median(used) if used else None), len(used)


def server_errors(log_text: str) -> list[str]:
    """The messages of the requests that failed in the server, from its log."""
    return SERVER_ERROR.findall(log_text)


def missing_output(result: dict, tolerance: float = 0.05) -> str | None:
    """Why bench_serving's result lacks output, or None: fewer tokens came back than the
    requests asked for (re-tokenizing the text of random ids loses a few, 0.2% on random-ids)."""
    asked = result.get("total_output_tokens")
    got = result.get("total_output_tokens_retokenized")
    if asked is not None and got is not None and got < (1 - tolerance) * asked:
        return f"only {got} of the {asked} output tokens asked for came back"
    return None


def run_workload(
    name: str, spec: ServerSpec, out: Path, args: argparse.Namespace, warm: bool = False
) -> dict:
    """Run one workload against a healthy server; its row. ``warm``: a short first pass whose
    figures are kept apart (``*.warm.*``), so one-time compiles do not land in the row."""
    workload = WORKLOADS[name]
    suffix = ".warm" if warm else ""
    jsonl = out / f"{name}-{spec.name}{suffix}.jsonl"
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
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=1800)
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
    max_itl = MAX_ITL.search(bench_text)  # printed, not in the JSONL
    result = json.loads(jsonl.read_text().splitlines()[-1])
    row = dict(
        workload=name,
        backend=spec.name,
        decode_tok_s=decode_tok_s,
        decode_log_lines=lines,
        median_itl_ms=result["median_itl_ms"],
        mean_tpot_ms=result["mean_tpot_ms"],
        median_tpot_ms=result.get("median_tpot_ms"),
        mean_itl_ms=result.get("mean_itl_ms"),
        max_itl_ms=float(max_itl.group(1)) if max_itl else None,  # a stall shows here
        output_tok_s=result["output_throughput"],
        median_ttft_ms=result["median_ttft_ms"],
        completed=result["completed"],
        server_errors=len(errors),
        trace_records_skipped=int(skipped.group(1)) if skipped else None,
        command=" ".join(command[1:]),
        commit=os.environ.get("PAT_COMMIT", "unknown"),
    )
    problems = []
    if errors:
        problems.append(f"{len(errors)} requests failed in the server, e.g. {errors[0][:200]}")
    if shortfall := missing_output(result):
        problems.append(shortfall)
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
