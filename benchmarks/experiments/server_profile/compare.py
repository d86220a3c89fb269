"""Two servers' profiles side by side: each workload's step split, a CSV, a JSON and a plot.

    python compare.py PAT_DIR FI_DIR --out DIR --gpu "NVIDIA H200" [--command "..."]

Reads the ``profile-<workload>-<backend>.json`` files that ``run.py`` wrote into each dir (one
backend per dir) and, per workload in both, writes one row per backend: the step's median
period, decode attention per layer (the union of its kernels), GEMMs, other kernels and idle
time per step (averaged over the profiled window, which may hold a prefill wave: compare
``window_us_per_step`` with the period), the measured pass's decode tok/s from the server
log, and the period's ratio to the second dir's. The commit is the one the profiles' rows name
(``PAT_COMMIT`` of the run). ``compare.png`` stacks the split of each step.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
from pathlib import Path

FIELDS = (
    "workload", "backend", "steps", "median_period_us", "window_us_per_step",
    "period_ratio_to_second",
    "decode_attention_us_per_layer", "attention_us_per_step", "GEMM_us_per_step",
    "other_us_per_step", "idle_us_per_step", "decode_tok_s",
)  # fmt: skip
SPLIT = ("attention_us_per_step", "GEMM_us_per_step", "other_us_per_step", "idle_us_per_step")


def load(directory: Path) -> dict[str, dict]:
    """Workload -> profile, for every profile in the dir."""
    profiles = {}
    for path in sorted(directory.glob("profile-*.json")):
        profile = json.loads(path.read_text())
        if "workload" not in profile or not profile.get("step"):
            raise ValueError(f"{path}: not a run.py profile with a step split")
        profiles[profile["workload"]] = profile
    if not profiles:
        raise ValueError(f"{directory}: no profile-*.json")
    return profiles


def row(profile: dict, num_layers: int, second_period: float) -> dict:
    step = profile["step"]
    attention_layer = step["decode_attention_us_per_layer"]
    measured = profile.get("row") or {}
    return dict(
        workload=profile["workload"],
        backend=profile["backend"],
        steps=step["steps"],
        median_period_us=round(step["median_period_us"], 1),
        # well above the period: the window caught an outlier (a prefill wave), so the split
        # below is the window's, not an ordinary step's
        window_us_per_step=round(step["window_us_per_step"], 1),
        period_ratio_to_second=round(step["median_period_us"] / second_period, 4),
        decode_attention_us_per_layer=round(attention_layer, 2),
        # the union of the attention kernels, so a lean pair's overlap counts once
        attention_us_per_step=round(attention_layer * num_layers, 1),
        GEMM_us_per_step=round(step.get("GEMM_us_per_step", 0.0), 1),
        other_us_per_step=round(step.get("other_us_per_step", 0.0), 1),
        idle_us_per_step=round(step["idle_us_per_step"], 1),
        decode_tok_s=measured.get("decode_tok_s"),
    )


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from plot import save_png  # selects matplotlib's headless backend

    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows)), 4.5))
    labels = [f"{r['workload']}\n{r['backend']}" for r in rows]
    bottom = [0.0] * len(rows)
    for part in SPLIT:
        heights = [r[part] / 1000 for r in rows]
        ax.bar(labels, heights, bottom=bottom, label=part.removesuffix("_us_per_step"))
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_ylabel("ms per decode step (24 steps, GPU kernels)")
    ax.tick_params(axis="x", labelsize=7, labelrotation=30)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", type=Path, nargs=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gpu", required=True, help="the GPU the profiles ran on")
    parser.add_argument("--command", default="", help="the command that made the profiles")
    args = parser.parse_args()
    first, second = (load(d) for d in args.dirs)
    common = [name for name in first if name in second]
    if not common:
        raise ValueError("the two dirs share no workload")
    rows = []
    for name in common:
        period = second[name]["step"]["median_period_us"]
        rows += [row(p[name], p[name]["num_layers"], period) for p in (first, second)]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "compare.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    commits = {(p[name].get("row") or {}).get("commit") for p in (first, second) for name in common}
    if len(commits) != 1:
        raise ValueError(f"the profiles come from different commits: {sorted(map(str, commits))}")
    meta = dict(gpu=args.gpu, commit=commits.pop(), date=datetime.date.today().isoformat())
    summary = dict(**meta, command=args.command, rows=rows)
    (args.out / "compare.json").write_text(json.dumps(summary, indent=1))
    plot(rows, args.out / "compare.png")
    for r in rows:
        print(", ".join(f"{k}={r[k]}" for k in FIELDS))


if __name__ == "__main__":
    main()
