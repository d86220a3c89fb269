"""Plot run.py's JSON files: each shape's energy a call by provider, one bar per run.

python benchmarks/experiments/energy/plot.py RUN.json [RUN.json ...] --out energy.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import matplotlib.pyplot as plt  # noqa: E402
from plot import save_png  # noqa: E402  (selects matplotlib's headless backend)


def shapes_of(run: dict) -> dict[str, dict]:
    """The run's shapes: its keys whose values are provider rows (not metadata, not the model)."""
    return {
        key: rows
        for key, rows in run.items()
        if key != "step_model" and isinstance(rows, dict) and all("mj" in r for r in rows.values())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = [(path.stem, json.loads(path.read_text())) for path in args.runs]
    shapes = list(dict.fromkeys(shape for _, run in runs for shape in shapes_of(run)))
    figure, axes = plt.subplots(len(shapes), 1, figsize=(9, 2.2 + 0.45 * 9 * len(shapes)))
    axes = [axes] if len(shapes) == 1 else list(axes)
    for axis, shape in zip(axes, shapes):
        providers = list(dict.fromkeys(p for _, run in runs for p in shapes_of(run).get(shape, {})))
        height = 0.8 / len(runs)
        for index, (_, run) in enumerate(runs):
            rows = shapes_of(run).get(shape, {})
            if not rows:
                continue
            ys = [i + index * height for i, p in enumerate(providers) if p in rows]
            mj = [rows[p]["mj"] for p in providers if p in rows]
            bars = axis.barh(ys, mj, height=height, color=f"C{index}")
            axis.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
        axis.set_yticks([i + 0.4 - height / 2 for i in range(len(providers))], providers)
        axis.invert_yaxis()
        axis.margins(x=0.12)
        axis.set_title(f"{shape}: mJ a call at back-to-back replay", fontsize=9)
        axis.tick_params(labelsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{i}") for i in range(len(runs))]
    labels = [f"{name} ({run.get('commit', '?')})" for name, run in runs]
    figure.legend(handles, labels, loc="upper right", fontsize=8)
    first = runs[0][1]
    figure.suptitle(f"{first.get('gpu', '?')}, {first.get('date', '?')}", fontsize=10, x=0.3)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    save_png(figure, args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
