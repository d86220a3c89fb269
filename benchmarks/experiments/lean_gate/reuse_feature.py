"""Would a re-read share help the lean gate's shared model? (session 73: no)

    python benchmarks/experiments/lean_gate/reuse_feature.py results/*.jsonl   # in lean_gate/

R is the share of a plan's shared KV reads that read a chunk another shared item reads too
(tiles of one chunk: 15/16 on the wide fan-out, where L2 serves them). The shared model
``a0·S + a1·S·s + a2`` gets a term ``S·R``; the other two models and the rule stay
``fit.py``'s. Prints both fits' errors, then the gated choice's time over the one launch's
with and without the term at each (overlap, margin).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
from pathlib import Path

import numpy as np
from fit import chosen, fit, fresh_rows, plan_of


def reread_share(row: dict) -> float:
    _, plan = plan_of(row)
    ranges = plan.items[: plan.num_shared_items, :2]
    if not len(ranges):
        return 0.0
    unique = sum(length for _, length in set(map(tuple, ranges.tolist())))
    return 1.0 - unique / float(ranges[:, 1].sum())


def main() -> None:
    rows = fresh_rows([Path(path) for path in sys.argv[1:]])
    for row in rows:
        row["reread"] = reread_share(row)
    split_rows = [r for r in rows if r["work"] is not None and "shared-part" in r["us"]]
    gate = fit(split_rows)

    def features(r: dict) -> list[float]:
        s, small = r["work"][0], r["work"][1]
        return [s, s * small, s * r["reread"], 1.0]

    a = np.array([features(r) for r in split_rows])
    y = np.array([r["us"]["shared-part"] for r in split_rows])
    coefficients = np.linalg.lstsq(a / y[:, None], np.ones(len(y)), rcond=None)[0]
    models = {
        "a0·S + a1·S·s + a2": lambda r: gate.estimates(r["work"])[0],
        "... + S·R": lambda r: float(np.dot(features(r), coefficients)),
    }
    for name, estimate in models.items():
        errors = np.abs([estimate(r) / r["us"]["shared-part"] - 1 for r in split_rows])
        print(
            f"shared model {name}: median |error| {np.median(errors):.3f}, max {errors.max():.3f}"
        )
    print(f"S·R coefficients: {np.round(coefficients, 2).tolist()}")
    for overlap, margin in itertools.product([0.25, 0.3, 0.35], [0.95, 1.0]):
        tuned = dataclasses.replace(gate, overlap=overlap, margin=margin)
        logs = []
        for r in rows:
            split = False
            if r["work"] is not None:
                _, private, one = tuned.estimates(r["work"])
                shared = float(np.dot(features(r), coefficients))
                split = max(shared, private) + overlap * min(shared, private) < margin * one
            logs.append(math.log((r["us"]["lean"] if split else r["us"]["pat"]) / r["us"]["pat"]))
        without = chosen(rows, [tuned] * len(rows))[0]
        print(f"overlap {overlap} margin {margin}: without R {without:.4f}x, "
              f"with R {math.exp(np.mean(logs)):.4f}x")  # fmt: skip


if __name__ == "__main__":
    main()
