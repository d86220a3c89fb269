"""Decode attention, one layer, side by side on one GPU: pat vs SGLang triton vs FlashInfer.

The providers (``providers.py``) read the same KV pool. Each runs in a CUDA graph of ``reps`` ×
(L2 flush + attention), the flush-only graph's time subtracted (``graph_timing.py``). The bound
is the unique bytes (each KV token once, Q, O) over the copy bandwidth measured in the same run.

    python benchmarks/bench_kernels.py [--part acceptance|suite|mooncake|served] [--heads 32,8]
    python benchmarks/bench_kernels.py --summarize     # kernels-*.csv -> summary.json, PNG
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_timing import copy_bandwidth_bytes_per_us, graph_time_us  # noqa: E402
from provenance import measured_commit  # noqa: E402
from providers import PROVIDERS, Batch  # noqa: E402
from workloads import (  # noqa: E402
    ACCEPTANCE_EXTRA,
    NO_SHARING,
    SERVED_BATCHES,
    TREE_SUITE,
    WIDE_FANOUT,
    WORKED_EXAMPLE,
    Workload,
    mooncake_workload,
    tree_workload,
    workload_for,
)

HEAD_CONFIGS = [(32, 32), (32, 8), (64, 8), (16, 8)]


def bench_one(
    work: Workload, heads: tuple[int, int], flush: torch.Tensor, bw: float, providers: list[str]
) -> list[dict]:
    batch = Batch(work, *heads)
    bound_us = batch.unique_bytes / bw
    rows, reference = [], None
    for name in providers:
        make = PROVIDERS[name]
        row = dict(
            workload=work.name,
            q_heads=heads[0],
            kv_heads=heads[1],
            batch=batch.q.shape[0],
            unique_tokens=batch.unique_tokens,
            total_tokens=int(batch.seq_lens.sum()),
            provider=name,
            bound_us=bound_us,
        )
        try:
            made = make(batch)
            if made is None:
                continue
            out, fn = made
            us = graph_time_us(fn, flush)
            fn()
            result = out["out"] if isinstance(out, dict) else out
            if reference is None:
                reference = result.float().clone()
            diff = float((result.float() - reference).abs().max())
            row.update(
                us=us,
                tb_s=batch.unique_bytes / us / 1e6,
                ratio_to_bound=us / bound_us,
                max_abs_diff_vs_pat=diff,
            )
        except Exception as error:  # a provider that cannot run this shape is reported, not fatal
            row.update(us=math.nan, error=f"{type(error).__name__}: {error}"[:300])
        rows.append(row)
        print(
            f"{work.name:32s} {heads} {name:20s} {row.get('us', math.nan):9.1f} us "
            f"(bound {bound_us:7.1f}) {row.get('error', '')}",
            flush=True,
        )
    del batch
    torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--part",
        choices=["acceptance", "suite", "mooncake", "served"],
        action="append",
        help="default: all parts",
    )
    parser.add_argument("--heads", action="append", help="q,kv heads for the suite, e.g. 32,8")
    parser.add_argument(
        "--workload",
        action="append",
        default=[],
        metavar="SPEC",
        help="only these tree specs (32 q / 8 KV heads), e.g. 4,128_4096,256, or shuffled gsp "
        "batches, e.g. gsp:64x16:2048+178:b256:s0 (workloads.gsp_sample_workload); "
        "kernels-custom.csv",
    )
    parser.add_argument("--commit", default=measured_commit())
    parser.add_argument(
        "--providers",
        default=",".join(PROVIDERS),
        help="comma-separated; the first is max_abs_diff's reference (default: all)",
    )
    parser.add_argument(
        "--summarize",
        action="store_true",
        help="only merge the out dir's kernels-*.csv into summary.json + PNG",
    )
    args = parser.parse_args()
    providers = args.providers.split(",")
    if unknown := set(providers) - set(PROVIDERS):
        parser.error(f"--providers: unknown {sorted(unknown)}; known: {list(PROVIDERS)}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.summarize:
        summarize(out_dir)
        return
    parts = args.part or ([] if args.workload else ["acceptance", "suite", "mooncake", "served"])
    heads = (
        [tuple(int(x) for x in h.split(",")) for h in args.heads] if args.heads else HEAD_CONFIGS
    )
    jobs = []
    if "acceptance" in parts:
        jobs += [
            (tree_workload(s), (32, 8)) for s in [WORKED_EXAMPLE, WIDE_FANOUT] + ACCEPTANCE_EXTRA
        ]
    if "suite" in parts:
        jobs += [(tree_workload(s), h) for h in heads for s in TREE_SUITE]
    if "mooncake" in parts:
        jobs += [
            (mooncake_workload(t, start, b), (32, 8))
            for t, start, b in [
                ("conversation", 0, 64),
                ("conversation", 5000, 128),
                ("synthetic", 0, 64),
                ("synthetic", 2000, 128),
            ]
        ]
    if "served" in parts:  # batches the serving comparison's servers decode (gsp, Mooncake)
        jobs += [(workload_for(s), (32, 8)) for s in SERVED_BATCHES]
    jobs += [(workload_for(s), (32, 8)) for s in args.workload]
    parts += ["custom"] if args.workload else []
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    bw = copy_bandwidth_bytes_per_us()
    print(f"copy bandwidth {bw / 1e6:.2f} TB/s", flush=True)
    meta = dict(
        gpu=torch.cuda.get_device_name(0),
        commit=args.commit,
        date=datetime.date.today().isoformat(),
        command=" ".join(["python"] + sys.argv),
        copy_bandwidth_tb_s=bw / 1e6,
    )
    path = out_dir / f"kernels-{'-'.join(parts)}.csv"
    with open(path, "w", newline="") as f:
        writer = None
        for work, head in jobs:
            for row in bench_one(work, head, flush, bw, providers):
                if writer is None:
                    writer = csv.DictWriter(f, fieldnames=CSV_FIELDS + list(meta))
                    writer.writeheader()
                writer.writerow({**{k: row.get(k, "") for k in CSV_FIELDS}, **meta})
                f.flush()


CSV_FIELDS = [
    "workload",
    "q_heads",
    "kv_heads",
    "batch",
    "unique_tokens",
    "total_tokens",
    "provider",
    "us",
    "bound_us",
    "tb_s",
    "ratio_to_bound",
    "max_abs_diff_vs_pat",
    "error",
]


def summarize(out_dir: Path) -> None:
    from plot import plot_kernels

    rows, meta = [], {}
    for path in sorted(out_dir.glob("kernels-*.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                for key in ("q_heads", "kv_heads", "batch"):
                    row[key] = int(row[key])
                for key in ("us", "bound_us"):
                    row[key] = float(row[key]) if row[key] else math.nan
                meta = {k: row[k] for k in ("gpu", "commit", "date", "copy_bandwidth_tb_s")}
                rows.append(row)

    def us(workload, provider, heads=(32, 8)):
        for row in rows:
            if (row["workload"], row["provider"], (row["q_heads"], row["kv_heads"])) == (
                workload,
                provider,
                heads,
            ):
                return row["us"], row["bound_us"]
        return math.nan, math.nan

    # The figures are the default server's form where it was measured (pat-forms, since session
    # 81: a kept-whole plan's all-items launch alone), else the pair's graph (pat).
    measured = {row["provider"] for row in rows}
    pat = "pat-forms" if "pat-forms" in measured else "pat"
    suite_ratios, no_sharing = [], []
    counted = set()  # a tree measured in several files (a custom run too) counts once, as us()
    for row in rows:
        if row["provider"] != pat or not row["us"] > 0:
            continue
        heads = (row["q_heads"], row["kv_heads"])
        if (row["workload"], heads) in counted:
            continue
        counted.add((row["workload"], heads))
        fi, _ = us(row["workload"], "flashinfer-decode", heads)
        if row["workload"] in TREE_SUITE and row["workload"] not in NO_SHARING:
            suite_ratios.append(fi / row["us"])
        if row["workload"] in NO_SHARING:
            no_sharing.append(fi / row["us"])
    summary = dict(
        pat_provider=pat,
        worked_example_us=us(WORKED_EXAMPLE, pat)[0],
        worked_example_bound_us=us(WORKED_EXAMPLE, pat)[1],
        wide_fanout_us=us(WIDE_FANOUT, pat)[0],
        wide_fanout_bound_us=us(WIDE_FANOUT, pat)[1],
        suite_geomean_vs_flashinfer_decode=(
            float(np.exp(np.mean(np.log(suite_ratios)))) if suite_ratios else math.nan
        ),
        suite_trees_with_sharing=len(suite_ratios),
        no_sharing_min_ratio_vs_flashinfer_decode=min(no_sharing) if no_sharing else math.nan,
        **meta,
        # the runs whose rows are summarized, then this summary's own command
        command="; ".join(
            sorted({row.get("command", "") for row in rows} - {""})
            + [" ".join(["python", *sys.argv])]
        ),
    )
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    plot_kernels(rows, out_dir / "kernels.png", meta)


if __name__ == "__main__":
    main()
