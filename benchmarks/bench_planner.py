"""CPU time of the pack planner per decode step: cold plans and lazy one-token updates.

    python benchmarks/bench_planner.py [--out benchmarks/results] [--powers]

Cold: a new batch, every node decided afresh (before session 65 the planner kept a memo of
decisions, cleared here before each cold plan; the tables that depend on a pack size only,
row tiles and their costs, stay). Lazy: the same requests one token longer, the common
decode step. The two alternate call for call (since session 65; before, they were timed in
two blocks). Llama-3-8B shapes (8 KV heads, GQA 4, d=128), 132 SMs. ``--powers``:
``PackScheduler.fine_private_chunks`` off (private chunks at powers of two only, the default
before session 41; runs before it took ``--fine`` for on).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sglang_pat.forest import PrefixForest
from sglang_pat.scheduler import PackScheduler

SHAPES = {
    "no-sharing": "{b}_4096",
    "one-prefix": "1,{b}_4096,512",
    "two-level": "1,4,{b}_32,256,32",
    "four-level": "1,4,16,{b}_1024,256,128,32",
}


def median_us(samples: list[float]) -> float:
    return float(np.median(samples) * 1e6)


def bench(spec: str, steps: int = 200, fine: bool | None = None) -> dict:
    forest = PrefixForest.from_tree_spec(spec)
    pool = np.arange(forest.num_requests) + 1
    cold_planner, lazy_planner = (
        PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132) for _ in range(2)
    )
    if fine is not None:  # None: the planner's default
        cold_planner.fine_private_chunks = lazy_planner.fine_private_chunks = fine
    for _ in range(10):
        cold_planner.plan_cold(forest, pool)
    grown = [dataclasses.replace(forest, seq_lens=forest.seq_lens + s) for s in range(1, steps + 1)]
    lazy_planner.plan_cold(forest, pool)
    # Cold plans and lazy updates alternate (a planner each), so that this machine's drift (up
    # to 2x between minutes) slows both alike; timed in two blocks, as before session 65, a
    # slow spell in one block moved their ratio by up to 2x.
    cold, lazy, hits = [], [], 0
    for step in range(steps):
        start = time.perf_counter()
        cold_planner.plan_cold(forest, pool)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        lazy_planner.plan(grown[step], pool)
        lazy.append(time.perf_counter() - start)
        hits += lazy_planner.last_plan_was_lazy
    return dict(
        tree=spec,
        requests=forest.num_requests,
        cold_us=median_us(cold),
        lazy_us=median_us(lazy),
        lazy_speedup=median_us(cold) / median_us(lazy),
        lazy_hit_rate=hits / steps,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--powers", action="store_true", help="fine private chunks off")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(
        cpu=platform.processor() or platform.machine(),
        commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        date=datetime.date.today().isoformat(),
        command=" ".join(["python"] + sys.argv),
    )
    rows, fine = [], False if args.powers else None
    for name, shape in SHAPES.items():
        for batch in (64, 256, 1024):
            row = dict(shape=name, **bench(shape.format(b=batch), fine=fine))
            rows.append(row)
            print(
                f"{name:11s} {batch:5d} requests: cold {row['cold_us']:7.1f} us, lazy "
                f"{row['lazy_us']:6.1f} us ({row['lazy_speedup']:.1f}x, hit "
                f"{row['lazy_hit_rate']:.0%})",
                flush=True,
            )
    with open(out / "planner.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) + list(meta))
        writer.writeheader()
        writer.writerows({**row, **meta} for row in rows)
    (out / "planner.json").write_text(json.dumps(dict(rows=rows, **meta), indent=2) + "\n")
    plot(rows, out / "planner.png", meta)


def plot(rows: list[dict], path: Path, meta: dict) -> None:
    import matplotlib.pyplot as plt
    from plot import save_png  # selects matplotlib's headless backend

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in SHAPES:
        picked = [r for r in rows if r["shape"] == name]
        x = [r["requests"] for r in picked]
        ax.plot(x, [r["cold_us"] for r in picked], "o-", label=f"{name} cold")
        ax.plot(x, [r["lazy_us"] for r in picked], "x--", label=f"{name} lazy")
    ax.axhline(200, color="gray", lw=0.8, ls=":", label="200 µs")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("requests in the batch")
    ax.set_ylabel("CPU µs per step (median)")
    ax.set_title(
        f"PackScheduler plan time — {meta['cpu']}, {meta['date']}, {meta['commit']}", fontsize=9
    )
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_png(fig, path, dpi=110)


if __name__ == "__main__":
    main()
