"""Experiment: a Mooncake replay's decode steps rebuilt from the client's per-request details,
two servers side by side, per batch size (CPU).

    python benchmarks/experiments/replay_timeline/timeline.py PAT.jsonl.gz FI.jsonl.gz \
        --trace .mooncake/conversation_trace.jsonl.gz [--slowdown 2.0]

Why: ``benchmarks/steps_by_batch.py`` reads the servers' 40-step log intervals; this reads
every step. bench_serving's ``--output-details`` give each request's TTFT and gaps but not its
send time, so each result is matched to its trace record (the replay sends them in trace order
at timestamp × slowdown; matched by output length and hash blocks × ~261 tokens of the dummy
tokenizer, each record once), which places its tokens on one clock. Tokens within 1.5 ms of each
other are one step. A step is *steady* when it and its two neighbours hold the same requests
(joins, leaves and prefills excluded); its duration is the gap to the next step, kept under
16 ms. Per batch size: the median steady step of each server, and what the difference adds to
the mean gap (weighted by the first server's gaps: b per step of b requests).

Session 38 (``../../results/2026-12-02-NVIDIA-H200/session38-serving/``, cbe6768): pat's
steady steps are 1.7% over flashinfer's at one request, 1.1-1.3% at 3 and 7, level or under
at 2, 4, 5 and 8; over both passes they add 1.0% to the mean gap, spread over the sizes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from serving_results import read_text  # noqa: E402

TOKENS_PER_BLOCK = 261  # the dummy tokenizer's tokens per replayed hash block
STEP_GAP_S = 1.5e-3
MAX_STEP_S = 16e-3


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in read_text(path).splitlines() if line.strip()]


def send_times(result: dict, trace: list[dict], slowdown: float) -> np.ndarray:
    """Each request's send time (s from the first), from its matched trace record."""
    used: set[int] = set()
    stamps = []
    for out, prompt in zip(result["output_lens"], result["input_lens"]):
        k = next(
            k
            for k, r in enumerate(trace)
            if k not in used
            and r["output_length"] == out
            and abs(len(r["hash_ids"]) * TOKENS_PER_BLOCK - prompt) < 400
        )
        used.add(k)
        stamps.append(trace[k]["timestamp"])
    stamps_s = np.asarray(stamps, dtype=np.float64) / 1e3 * slowdown
    return stamps_s - stamps_s.min()


def steady_steps(result: dict, sent: np.ndarray) -> dict[int, np.ndarray]:
    """Durations (s) of the steady steps, per batch size."""
    events = sorted(
        (t, i)
        for i, (start, ttft, gaps) in enumerate(zip(sent, result["ttfts"], result["itls"]))
        for t in start + ttft + np.concatenate([[0.0], np.cumsum(gaps)])
    )
    steps: list[list[tuple[float, int]]] = [[events[0]]]
    for before, event in zip(events, events[1:]):
        if event[0] - before[0] > STEP_GAP_S:
            steps.append([])
        steps[-1].append(event)
    times = np.asarray([np.mean([t for t, _ in step]) for step in steps])
    members = [frozenset(i for _, i in step) for step in steps]
    by_size: dict[int, list[float]] = {}
    for k in range(1, len(steps) - 1):
        duration = times[k + 1] - times[k]
        if members[k - 1] == members[k] == members[k + 1] and duration < MAX_STEP_S:
            by_size.setdefault(len(members[k]), []).append(duration)
    return {size: np.asarray(d) for size, d in sorted(by_size.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--trace", type=Path, required=True)
    parser.add_argument("--slowdown", type=float, default=2.0)
    args = parser.parse_args()
    trace = sorted(read_jsonl(args.trace), key=lambda r: r["timestamp"])
    first, second = read_jsonl(args.first), read_jsonl(args.second)
    for k, (a, b) in enumerate(zip(first, second)):
        steps_a = steady_steps(a, send_times(a, trace, args.slowdown))
        steps_b = steady_steps(b, send_times(b, trace, args.slowdown))
        sizes = [s for s in steps_a if s in steps_b and min(len(steps_a[s]), len(steps_b[s])) >= 10]
        total = sum(size * steps_a[size].size * np.median(steps_b[size]) for size in sizes)
        print(f"pass {k + 1}\n\n| requests | steps A | steps B | A ms | B ms | A / B | adds |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        added = 0.0
        for size in sizes:
            a_ms, b_ms = np.median(steps_a[size]) * 1e3, np.median(steps_b[size]) * 1e3
            share = size * steps_a[size].size * (a_ms - b_ms) / 1e3 / total
            added += share
            print(
                f"| {size} | {steps_a[size].size} | {steps_b[size].size} | {a_ms:.3f} "
                f"| {b_ms:.3f} | {a_ms / b_ms:.3f} | {share * 100:+.2f}% |"
            )
        print(f"\nsteady steps of A over B's, in the mean gap: {added * 100:+.2f}%\n")


if __name__ == "__main__":
    main()
