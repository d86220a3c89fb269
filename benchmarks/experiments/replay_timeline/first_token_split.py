"""One request's first token and gaps on two servers, pass by pass (session 76, CPU).

    python benchmarks/experiments/replay_timeline/first_token_split.py \
        --pat A.jsonl[.gz] [B.jsonl ...] --flashinfer A.jsonl[.gz] [B.jsonl ...] [--request 4]

The Mooncake conversation's mean TPOT has been decided, pass after pass, by request 4 (3 output
tokens): its first token comes with one prefill of the opening burst or with the next, and its
two gaps then hold the remaining prefills or not. This prints, per paired pass (the files'
passes in order, pat's k-th against flashinfer's k-th), that request's TTFT and gaps on each
server, the mean TPOT ratio with and without it, and the mean end-to-end latency ratio.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tpot_paired import gaps_ms, read_passes, split_tpot  # noqa: E402


def mean_tpot_ms(result: dict, leave_out: int | None = None) -> float:
    """bench_serving's mean TPOT (``tpot_paired.split_tpot``'s parts with no gap a stall),
    optionally without one request."""
    itls, output_lens = gaps_ms(result)
    kept = [i for i in range(len(itls)) if i != leave_out]
    decode, stall = split_tpot([itls[i] for i in kept], output_lens[kept], math.inf)
    return float((decode + stall).mean())


def ttft_and_gaps(result: dict, request: int) -> str:
    """A request's TTFT / its gaps, ms."""
    gaps = ", ".join(f"{gap * 1000:.0f}" for gap in result["itls"][request])
    return f"{result['ttfts'][request] * 1000:.0f} / {gaps}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pat", type=Path, nargs="+", required=True)
    parser.add_argument("--flashinfer", type=Path, nargs="+", required=True)
    parser.add_argument("--request", type=int, default=4)
    args = parser.parse_args()
    first, second = (
        [p for path in paths for p in read_passes(path)] for paths in (args.pat, args.flashinfer)
    )
    if len(first) != len(second):
        parser.error(f"{len(first)} pat passes against {len(second)} flashinfer passes")
    r = args.request
    print(f"| pass | pat: TTFT / gaps ms | flashinfer: TTFT / gaps ms | mean TPOT ratio"
          f" | without request {r} | mean e2e ratio |")  # fmt: skip
    print("|---:|---|---|---:|---:|---:|")
    for k, (a, b) in enumerate(zip(first, second)):
        if a["output_lens"] != b["output_lens"]:
            raise SystemExit(f"pass {k + 1}: the servers did not serve the same requests")
        print(
            f"| {k + 1} | {ttft_and_gaps(a, r)} | {ttft_and_gaps(b, r)}"
            f" | {mean_tpot_ms(a) / mean_tpot_ms(b):.3f}"
            f" | {mean_tpot_ms(a, r) / mean_tpot_ms(b, r):.3f}"
            f" | {a['mean_e2e_latency_ms'] / b['mean_e2e_latency_ms']:.4f} |"
        )


if __name__ == "__main__":
    main()
