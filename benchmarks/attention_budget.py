"""How much decode attention a serving target leaves, against its memory bound, interval by
interval of the baseline server's log.

    python benchmarks/attention_budget.py FI/server-flashinfer.log.gz --batch 256 --ratio 1.5 \
        --non-attention-ms 7.54 [--pat PAT/server-pat.log.gz] [--skip-flushes 2]

SGLang logs a decode line every 40 steps: ``#running-req``, ``#token`` (the KV tokens the running
requests hold, each shared prefix once) and the interval's ``gen throughput``. For each line at
full batch after the ``--skip-flushes``-th cache flush, each pass's first line left out (its
interval holds the pass's prefills):
- the baseline's step, batch / throughput;
- the attention budget: the step the target allows (the baseline's step / ``--ratio``) less the
  time of everything else in a step (``--non-attention-ms``: a profile's step period less its
  decode attention, the same kernels in both servers);
- the bound: layers × the interval's middle token count (the line's ``#token`` less 20 steps
  of the batch) × bytes a token and layer / copy bandwidth: each unique KV byte read once;
- budget / bound. Under 1, the target needs attention faster than the bound.

``--pat``: the same lines of pat's log, with pat's attention (its step less the non-attention
time) over the bound.
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

from serving_results import CACHE_FLUSHED, full_batch_lines, read_text

TOKENS = re.compile(r"#token: (\d+)")  # within a decode line
LOG_INTERVAL_STEPS = 40


def full_batch_intervals(log_text: str, batch: int, skip_flushes: int) -> list[tuple[int, float]]:
    """(token count at the interval's middle, mean step in ms) of each full-batch decode line
    after the ``skip_flushes``-th cache flush, each pass's first such line left out. Where
    requests finish and others start within a pass (gsp defaults: 1,024 prompts at 256 at a
    time), some intervals hold prefills too: read the medians, not single lines."""
    passes = CACHE_FLUSHED.split(log_text)
    if skip_flushes >= len(passes):
        raise ValueError(f"the log has {len(passes) - 1} cache flushes, not {skip_flushes}")
    intervals = []
    for text in passes[skip_flushes:]:
        for line in full_batch_lines(text, batch):
            middle = int(TOKENS.search(line[0])[1]) - LOG_INTERVAL_STEPS // 2 * batch
            rate = float(line[2])
            if middle > 0 and rate > 0:  # a line logged as the pool emptied has no middle
                intervals.append((middle, batch / rate * 1e3))
    return intervals


def bound_ms(tokens: int, layers: int, token_bytes: int, bandwidth_tb_s: float) -> float:
    """A step's attention at copy bandwidth, each unique KV byte read once."""
    return layers * tokens * token_bytes / (bandwidth_tb_s * 1e12) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline_log", type=Path)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--ratio", type=float, required=True, help="decode throughput target")
    parser.add_argument("--non-attention-ms", type=float, required=True)
    parser.add_argument("--pat", type=Path, help="pat's server log")
    parser.add_argument("--skip-flushes", type=int, default=2)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--token-bytes", type=int, default=4096, help="K and V, one layer")
    parser.add_argument("--bandwidth", type=float, default=4.27, help="TB/s")
    args = parser.parse_args()
    if min(args.batch, args.ratio, args.layers, args.token_bytes, args.bandwidth) <= 0:
        parser.error("--batch, --ratio, --layers, --token-bytes and --bandwidth must be positive")

    def bound(tokens: int) -> float:
        return bound_ms(tokens, args.layers, args.token_bytes, args.bandwidth)

    print(f"target {args.ratio}x {args.baseline_log}; non-attention {args.non_attention_ms} ms")
    print("tokens (middle) | baseline step ms | budget ms | bound ms | budget / bound")
    ratios = []
    for tokens, step in full_batch_intervals(
        read_text(args.baseline_log), args.batch, args.skip_flushes
    ):
        budget = step / args.ratio - args.non_attention_ms
        ratios.append(budget / bound(tokens))
        print(f"{tokens} | {step:.2f} | {budget:.2f} | {bound(tokens):.2f} | {ratios[-1]:.3f}")
    if ratios:
        print(f"median budget / bound: {statistics.median(ratios):.3f}")
    if args.pat:
        print(f"\n{args.pat}: tokens (middle) | step ms | attention ms | attention / bound")
        spent = []
        for tokens, step in full_batch_intervals(
            read_text(args.pat), args.batch, args.skip_flushes
        ):
            attention = step - args.non_attention_ms
            spent.append(attention / bound(tokens))
            print(f"{tokens} | {step:.2f} | {attention:.2f} | {spent[-1]:.3f}")
        if spent:
            print(f"median attention / bound: {statistics.median(spent):.3f}")


if __name__ == "__main__":
    main()
