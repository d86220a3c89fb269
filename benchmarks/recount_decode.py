"""Re-read a serving run's full-batch decode throughput from its server logs.

    python benchmarks/recount_decode.py RUN_DIR --passes 2 --out DIR [--no-warm-pass]

Before session 47, ``serving_results.decode_throughput`` dropped only the first full-batch
line of a workload's log segment. With ``--passes 2`` or more, every later pass's first line
(its interval holds that pass's prefills: about 1.5k tok/s at gsp 4 x 32) stayed in the
median. This script splits each server log at bench_serving's cache flushes (one before every
pass, warm pass included), gives each row of ``RUN_DIR/rows.jsonl`` its measured passes, and
recounts them as ``serving_results.decode_throughput`` now does. It writes the rows, marked
``recounted``, and the usual results files to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serving_results import (  # noqa: E402
    CACHE_FLUSHED,
    pass_decode_throughput,
    read_text,
    write_results,
)
from serving_workloads import WORKLOADS  # noqa: E402

MARK = {"recounted": "recount_decode.py: the first full-batch line of every pass dropped"}


def measured_passes(log_text: str, workloads: list[str], passes: int, warm: bool) -> dict:
    """Each workload's measured passes in the log of a server that ran ``workloads`` in this
    order: the text after each cache flush, the warm pass's left out."""
    parts = CACHE_FLUSHED.split(log_text)[1:]  # before the first flush: the server's start
    per_workload = passes + warm
    if len(parts) != per_workload * len(workloads):
        raise ValueError(
            f"log: {len(parts)} cache flushes, expected {per_workload} for each of {workloads}"
        )
    return {
        name: parts[i * per_workload + warm : (i + 1) * per_workload]
        for i, name in enumerate(workloads)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a bench_serving.py --out directory")
    parser.add_argument("--passes", type=int, required=True, help="the run's --passes")
    parser.add_argument("--warm-pass", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.run / "rows.jsonl").read_text().splitlines()]
    recounted = []
    for backend in dict.fromkeys(row["backend"] for row in rows):
        own = [row for row in rows if row["backend"] == backend]
        log = next(args.run.glob(f"server-{backend}.log*"))
        names = [row["workload"] for row in own]
        segments = measured_passes(read_text(log), names, args.passes, args.warm_pass)
        for row in own:
            batch = WORKLOADS[row["workload"]].batch
            tok_s, lines = pass_decode_throughput(segments[row["workload"]], batch)
            print(
                f"{row['workload']} {backend}: {row['decode_tok_s']} -> {tok_s} tok/s"
                f" ({row['decode_log_lines']} -> {lines} lines)"
            )
            recounted.append({**row, "decode_tok_s": tok_s, "decode_log_lines": lines, **MARK})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in recounted))
    write_results(recounted, args.out, recounted[0].get("gpu", "unknown"))


if __name__ == "__main__":
    main()
