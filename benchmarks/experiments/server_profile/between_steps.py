"""What the GPU runs between two decode graphs of a server's trace, and how far ahead the host is.

    python benchmarks/experiments/server_profile/between_steps.py TRACE.trace.json.gz [--show 1]

A trace of ``run.py`` (GPU activity; CUPTI records the CUDA runtime calls with it). Each
``cudaGraphLaunch`` is one decode step; its kernels are those with its correlation id. Per
pair of steps: the gap from the last kernel of one graph to the first of the next, the GPU
time of the operations in it (sampling, SGLang's input preparation, the backend's metadata),
and when the host launched the next graph, relative to the end of the one before (negative:
launched before it ended, so the host did not hold the GPU back). ``--show N`` lists the
operations of the first N gaps.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from parse import trace_events


def load(trace: Path) -> tuple[list[dict], list[dict]]:
    events = trace_events(trace)
    host = [e for e in events if e.get("cat") in ("cuda_runtime", "cuda_driver")]
    gpu = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    return sorted(host, key=lambda e: e["ts"]), sorted(gpu, key=lambda e: e["ts"])


def graph_steps(host: list[dict], gpu: list[dict]) -> list[dict]:
    """Each graph launch with its kernels' first start and last end (µs)."""
    by_correlation: dict[int, list[dict]] = {}
    for event in gpu:
        by_correlation.setdefault(event["args"].get("correlation"), []).append(event)
    steps = []
    for launch in (e for e in host if e["name"] == "cudaGraphLaunch"):
        kernels = by_correlation.get(launch["args"]["correlation"])
        if kernels:
            first = min(k["ts"] for k in kernels)
            last = max(k["ts"] + k["dur"] for k in kernels)
            steps.append(dict(launch=launch["ts"], first=first, last=last))
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--show", type=int, default=1)
    args = parser.parse_args()
    host, gpu = load(args.trace)
    steps = graph_steps(host, gpu)
    rows = []
    for before, after in zip(steps, steps[1:]):
        between = [g for g in gpu if before["last"] <= g["ts"] < after["first"]]
        rows.append(
            dict(
                gap_us=after["first"] - before["last"],
                busy_us=sum(g["dur"] for g in between),
                operations=len(between),
                launch_lead_us=after["launch"] - before["last"],
                step_us=after["first"] - before["first"],
            )
        )
        if len(rows) <= args.show:
            print(f"between graphs {len(rows)} and {len(rows) + 1} (µs from the first one's end):")
            for g in between:
                start = g["ts"] - before["last"]
                print(f"  {start:7.1f} +{g['dur']:6.1f}  {g['name'][:70]}")
            print(f"  {rows[-1]['gap_us']:7.1f}          the next graph's first kernel")
    print(f"{len(rows)} gaps between {len(steps)} graphs, median (min, max):")
    for key in rows[0]:
        values = [row[key] for row in rows]
        print(f"  {key}: {statistics.median(values):.1f} ({min(values):.1f}, {max(values):.1f})")


if __name__ == "__main__":
    main()
