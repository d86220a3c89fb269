"""A server's torch-profiler trace (GPU kernels of decode steps) as a step's split.

    python parse.py TRACE.trace.json.gz [--layers 32]

Kernels are grouped by name: decode attention (pat's pack and merge kernels, FlashInfer's
decode or its tensor-core prefill kernel used for decode and its merge, triton's two decode
stages), pat's once-a-step gather, GEMMs, prefill attention (a prefill inside the window
would show here), and the rest. Steps = launches of the main attention kernel on the stream
that has most of them / layers: pat's lean kernel (cost_model.LeanKernel) launches a
second pack kernel per layer on a forked stream, which a CUDA graph replays on a stream of its
own per layer. Decode attention per layer is the union of the attention kernels' intervals (the
two pack kernels overlap), beside the sum of their durations. The
window runs from the first kernel's start to the last kernel's end; idle is the part of it no
kernel covers (launch gaps, host work between steps). Outliers (a trace export, a prefill wave)
land in the window, so the step's period is also given as the median time between two
samplings (the argmax kernel that ends each greedy step), with the median of each period's
longest gap between two kernels (the host work that the GPU waits for).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

SAMPLING = re.compile(r"ArgMaxOps")  # greedy sampling: one launch at the end of each step
# one launch per layer per decode step: the step count comes from these
ATTENTION_MAIN = re.compile(
    r"_pack_decode_kernel|BatchDecodeWithPagedKVCache|BatchPrefillWithPagedKVCache"
    r"|_fwd_kernel_stage1|_fwd_grouped_kernel_stage1"
)
CATEGORIES = [
    ("decode attention", re.compile(ATTENTION_MAIN.pattern + r"|_merge_states_kernel"
                                    r"|MergeStates|merge_state|_fwd_kernel_stage2")),
    ("pat gather (per step)", re.compile(r"_upload_plan_kernel|_gather_kv_indices_kernel")),
    ("prefill attention", re.compile(r"extend|Ragged|SinglePrefill", re.I)),
    ("GEMM", re.compile(r"gemm|cutlass|xmma|nvjet|cublas|splitK", re.I)),
]  # fmt: skip


def category(name: str) -> str:
    for label, pattern in CATEGORIES:
        if pattern.search(name):
            return label
    return "other"


def busy_time(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end) intervals."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def step_periods(kernels: list[dict]) -> tuple[float | None, float | None]:
    """Median time between two samplings, and median of each period's longest kernel gap."""
    ordered = sorted(kernels, key=lambda e: float(e["ts"]))
    ends = [i for i, e in enumerate(ordered) if SAMPLING.search(e["name"])]
    periods, longest = [], []
    for first, last in zip(ends, ends[1:]):
        span = ordered[first : last + 1]
        periods.append(float(span[-1]["ts"]) - float(span[0]["ts"]))
        longest.append(
            max(float(b["ts"]) - float(a["ts"]) - float(a["dur"]) for a, b in zip(span, span[1:]))
        )
    if not periods:
        return None, None
    return statistics.median(periods), statistics.median(longest)


def trace_events(trace: Path) -> list[dict]:
    """The events of a torch-profiler trace (``.json`` or ``.json.gz``)."""
    with gzip.open(trace, "rt") if trace.suffix == ".gz" else open(trace) as f:
        return json.load(f)["traceEvents"]


def summarize(trace: Path, num_layers: int) -> dict:
    events = trace_events(trace)
    kernels = [e for e in events if e.get("cat") == "kernel" and "dur" in e]
    if not kernels:
        return dict(trace=str(trace), error="no kernel events", step={})
    by_name: dict[str, list[float]] = defaultdict(list)
    for e in kernels:
        by_name[e["name"]].append(float(e["dur"]))
    table = sorted(
        (
            dict(
                name=name[:160],
                category=category(name),
                count=len(durs),
                total_us=sum(durs),
                mean_us=sum(durs) / len(durs),
            )
            for name, durs in by_name.items()
        ),
        key=lambda row: -row["total_us"],
    )
    main_launches_per_stream: dict[object, int] = defaultdict(int)
    for e in kernels:
        if ATTENTION_MAIN.search(e["name"]):
            main_launches_per_stream[e.get("args", {}).get("stream")] += 1
    layers = max(main_launches_per_stream.values(), default=0)
    steps = layers / num_layers if layers else 0
    start = min(float(e["ts"]) for e in kernels)
    end = max(float(e["ts"]) + float(e["dur"]) for e in kernels)
    busy = busy_time([(float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in kernels])
    per_category: dict[str, float] = defaultdict(float)
    for row in table:
        per_category[row["category"]] += row["total_us"]
    attention_busy = busy_time([
        (float(e["ts"]), float(e["ts"]) + float(e["dur"]))
        for e in kernels if category(e["name"]) == "decode attention"
    ])  # fmt: skip
    period, longest_gap = step_periods(kernels)
    step = dict(
        steps=steps,
        median_period_us=period,
        median_longest_gap_us=longest_gap,
        window_us_per_step=(end - start) / steps if steps else None,
        busy_us_per_step=busy / steps if steps else None,
        idle_us_per_step=(end - start - busy) / steps if steps else None,
        decode_attention_us_per_layer=attention_busy / layers if layers else None,
        decode_attention_kernel_us_per_layer=(
            per_category["decode attention"] / layers if layers else None
        ),
        **{f"{label}_us_per_step": total / steps for label, total in per_category.items() if steps},
    )
    return dict(trace=str(trace), num_layers=num_layers, step=step, kernels=table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    summary = summarize(args.trace, args.layers)
    print(json.dumps(summary["step"], indent=1))
    for row in summary.get("kernels", [])[: args.top]:
        print(
            f"{row['total_us']:10.0f} us {row['count']:6d} x {row['mean_us']:8.2f}"
            f"  [{row['category']}] {row['name'][:100]}"
        )


if __name__ == "__main__":
    main()
