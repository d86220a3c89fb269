"""Fit ``sglang_pat.lean_gate.LeanGate`` to exp.py's measurements, and show its choices.

    python benchmarks/experiments/lean_gate/fit.py results/session18.jsonl [more.jsonl ...]

Each shape's plan is rebuilt on the CPU (the planner is deterministic; the row's SM count)
and turned into ``PlanWork``. A row whose plan has changed since it was measured (another
item count, e.g. the long packed tails of session 44) is left out: its times are another
plan's. A shape measured again in a later file replaces its earlier row. The three time
models are fitted by relative least squares to the measured times of the shared part alone,
the private part alone and the one launch. Then (overlap, margin) are scanned: the geometric
mean of the chosen time over the one launch's, the shapes that lose over 2%, and the same
with each shape's models fitted without it (leave-one-out). Last, the table of the product's
``LeanGate()`` choices.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from workloads import workload_for  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402
from sglang_pat.lean_gate import LeanGate, PlanWork  # noqa: E402
from sglang_pat.scheduler import PackScheduler  # noqa: E402

HEAD_DIM = 128
MODELS = {  # name: (measured key, features of a PlanWork)
    "shared_us": ("shared-part", lambda w: [w[0], w[0] * w[1], 1.0]),
    "private_us": ("private-part", lambda w: [w[2], w[3], w[4], 1.0]),
    "one_launch_us": ("pat", lambda w: [w[0], w[0] * w[1], w[2], w[3], w[4], 1.0]),
}


def plan_of(row: dict) -> tuple[PackScheduler, object]:
    """The row's shape planned again (the planner is deterministic; the row's SM count)."""
    spec, _, heads = row["shape"].partition("@")
    q_heads, kv_heads = map(int, (heads or "32,8").split(","))
    group = q_heads // kv_heads
    menu = default_tile_menu(HEAD_DIM, group)
    forest = workload_for(spec).forest
    scheduler = PackScheduler(
        num_kv_heads=kv_heads, group_size=group, head_dim=HEAD_DIM, num_sms=row["num_sms"],
        menu=menu,
    )  # fmt: skip
    return scheduler, scheduler.plan(forest, np.arange(forest.num_requests))


def work_of(row: dict) -> tuple[int, PlanWork | None]:
    """The row's shape planned again: its item count, and its ``PlanWork`` (None without both
    kinds of item)."""
    scheduler, plan = plan_of(row)
    num_items = plan.items.shape[0]
    if not 0 < plan.num_shared_items < num_items:
        return num_items, None
    return num_items, scheduler.plan_work(plan)


def fresh_rows(paths: list[Path]) -> list[dict]:
    """exp.py's rows, each with its ``work``; a shape measured again (a later file) replaces
    its earlier row, and a row whose plan has changed since it was measured is left out."""
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines()]
    fresh = []
    for row in {r["shape"]: r for r in rows if "us" in r}.values():
        num_items, row["work"] = work_of(row)
        if num_items == row["items"]:
            fresh.append(row)
        else:
            print(f"left out: {row['shape']} (planned otherwise since it was measured)")
    return fresh


def fit(rows: list[dict]) -> LeanGate:
    coefficients = {}
    for name, (key, features) in MODELS.items():
        a = np.array([features(r["work"]) for r in rows])
        y = np.array([r["us"][key] for r in rows])
        solution = np.linalg.lstsq(a / y[:, None], np.ones(len(y)), rcond=None)[0]
        coefficients[name] = tuple(float(x) for x in solution)
    return LeanGate(**coefficients)


def chosen(rows: list[dict], gates: list[LeanGate]) -> tuple[float, list[str]]:
    logs, losers = [], []
    for row, gate in zip(rows, gates):
        split = row["work"] is not None and gate.splits(row["work"])
        ratio = (row["us"]["lean"] if split else row["us"]["pat"]) / row["us"]["pat"]
        logs.append(math.log(ratio))
        if ratio > 1.02:
            losers.append(f"{row['shape']} {ratio:.2f}")
    return math.exp(float(np.mean(logs))), losers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="exp.py's JSON lines, merged")
    args = parser.parse_args()
    rows = fresh_rows(args.results)
    split_rows = [r for r in rows if r["work"] is not None and "shared-part" in r["us"]]
    gate = fit(split_rows)
    for name, (key, features) in MODELS.items():
        coefficients = getattr(gate, name)
        errors = [np.dot(features(r["work"]), coefficients) / r["us"][key] - 1 for r in split_rows]
        print(f"{name}: {np.round(coefficients, 2).tolist()}  median |error| "
              f"{np.median(np.abs(errors)):.3f}, max {np.max(np.abs(errors)):.3f}")  # fmt: skip
    always = math.exp(np.mean([math.log(r["us"]["lean"] / r["us"]["pat"]) for r in rows]))
    best = math.exp(np.mean([math.log(min(1, r["us"]["lean"] / r["us"]["pat"])) for r in rows]))
    print(f"{len(rows)} shapes: always split {always:.3f}x, best per shape {best:.3f}x")
    held_out = {id(r): fit([s for s in split_rows if s is not r]) for r in rows}
    for overlap, margin in itertools.product([0.2, 0.25, 0.3, 0.35], [0.9, 0.95, 1.0]):
        tuned = dataclasses.replace(gate, overlap=overlap, margin=margin)
        score, losers = chosen(rows, [tuned] * len(rows))
        loo = [dataclasses.replace(held_out[id(r)], overlap=overlap, margin=margin) for r in rows]
        print(f"overlap {overlap} margin {margin}: {score:.4f}x, leave-one-out "
              f"{chosen(rows, loo)[0]:.4f}x; losing: {', '.join(losers) or 'none'}")  # fmt: skip
    product = LeanGate()
    print(f"\nLeanGate(): {chosen(rows, [product] * len(rows))[0]:.4f}x")
    for row in rows:
        work, us = row["work"], row["us"]
        split = work is not None and product.splits(work)
        shared, private, one = product.estimates(work) if work else (math.nan,) * 3
        print(f"{row['shape']:36s} split {int(split)}  lean/one {us['lean'] / us['pat']:.2f}  "
              f"shared {shared:6.1f} ({us.get('shared-part', math.nan):6.1f})  private "
              f"{private:6.1f} ({us.get('private-part', math.nan):6.1f})  one {one:6.1f} "
              f"({us['pat']:6.1f}) us, estimated (measured)")  # fmt: skip


if __name__ == "__main__":
    main()
