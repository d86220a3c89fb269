"""Two servers' decode steps by batch size, from their logs' decode lines (a replay's batches
come and go, so its decode throughput alone hides at which sizes one server is slower).

    python benchmarks/steps_by_batch.py PAT/server-pat.log.gz FI/server-flashinfer.log.gz \
        [--skip-flushes 2] [--out steps.txt]

SGLang logs a decode line every 40 decode steps: ``#running-req: N`` at its end and the
interval's ``gen throughput``, so N / throughput is the interval's mean time per step, any
prefill in it included. Lines before the ``--skip-flushes``-th ``Cache flushed`` line are
dropped (bench_serving flushes before its warm pass and before each measured pass: 2 keeps
the measured passes only). Per batch size: each server's median step and their ratio; last,
the ratio of the medians weighted by the first server's lines at each size, over the sizes
where both servers logged at least ``--min-lines`` lines (the rare sizes' intervals are mostly
prefills, hundreds of ms a step, and would decide a weighted sum).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from serving_results import DECODE_LINE, read_text

FLUSHED = "Cache flushed"


def steps_ms_by_batch(log_text: str, skip_flushes: int) -> dict[int, list[float]]:
    """Per running-request count: the mean step (ms) of each decode log line after the
    ``skip_flushes``-th cache flush."""
    lines = log_text.splitlines()
    flushes = [i for i, line in enumerate(lines) if FLUSHED in line]
    if skip_flushes > len(flushes):
        raise ValueError(f"the log has {len(flushes)} cache flushes, not {skip_flushes}")
    start = flushes[skip_flushes - 1] + 1 if skip_flushes else 0
    steps: dict[int, list[float]] = defaultdict(list)
    for running, throughput in DECODE_LINE.findall("\n".join(lines[start:])):
        if float(throughput) > 0:
            steps[int(running)].append(int(running) / float(throughput) * 1e3)
    return steps


def compare(
    a: dict[int, list[float]], b: dict[int, list[float]], min_lines: int = 1
) -> tuple[list[tuple], float]:
    """Rows (batch, lines a, lines b, median a, median b, a / b) for sizes both have, and the
    ratio of a's to b's medians weighted by a's line count per size, over the sizes where
    both have at least ``min_lines`` lines."""
    rows = []
    for batch in sorted(a.keys() & b.keys()):
        median_a, median_b = statistics.median(a[batch]), statistics.median(b[batch])
        rows.append((batch, len(a[batch]), len(b[batch]), median_a, median_b, median_a / median_b))
    counted = [row for row in rows if min(row[1], row[2]) >= min_lines]
    if not counted:
        raise ValueError(f"the two logs share no batch size with {min_lines} lines each")
    weighted = sum(row[1] * row[3] for row in counted) / sum(row[1] * row[4] for row in counted)
    return rows, weighted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_a", type=Path)
    parser.add_argument("log_b", type=Path)
    parser.add_argument("--skip-flushes", type=int, default=2)
    parser.add_argument("--min-lines", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    a, b = (
        steps_ms_by_batch(read_text(path), args.skip_flushes) for path in (args.log_a, args.log_b)
    )
    rows, weighted = compare(a, b, args.min_lines)
    text = [
        f"decode lines after cache flush {args.skip_flushes}: A = {args.log_a}, B = {args.log_b}",
        "",
        "| running requests | lines A | lines B | step A ms | step B ms | A / B |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    text += [
        f"| {n} | {la} | {lb} | {ma:.3f} | {mb:.3f} | {r:.3f} |" for n, la, lb, ma, mb, r in rows
    ]
    text += [
        "",
        f"weighted by A's lines per size, sizes with {args.min_lines}+ lines in both: "
        f"A / B = {weighted:.3f}",
    ]
    print("\n".join(text))
    if args.out:
        args.out.write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
