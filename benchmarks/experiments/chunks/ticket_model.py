"""CPU: a fluid model of the pack kernel's launch, fitted to timed plans, with the kernel's early
ticket (a program takes its next unit's ticket as it starts its current one) or a dynamic queue,
and with or without a cap per SM.

    export PAT_MOONCAKE_DIR=../shared/data/mooncake
    R=benchmarks/results/2026-12-02-NVIDIA-H200
    python benchmarks/experiments/chunks/ticket_model.py $R/session38-kernels/fine_chunks.jsonl \
        $R/session39-kernels/fine_chunks.jsonl $R/session39-kernels/ticket_waves.jsonl \
        $R/session40-kernels/ticket_waves.jsonl $R/session40-kernels/occupancy_wait.jsonl

Each timed variant of ``fine_chunks.py``, ``ticket_waves.py``, ``occupancy_wait.py`` or
``one_wave.py`` (a file is read by the experiment its name gives; each variant with its own
planner settings, 32 q / 8 KV heads, 132 SMs; other head counts are skipped) is planned again
here, with the chunk cost it was timed with (``fine_chunks.py`` ran before 4708dec:
``ticket_waves.WavesOfWork``), and must have the item count the run recorded. Each item is 8
units of ``kv_len x token_cost`` bytes-equivalent plus an overhead. The units run on 264
programs (program p on SM p mod 132) that share a bandwidth B, each at most r and, with the
cap per SM, the programs of one SM together at most R; the launch costs a constant c0 on top
(merge and launch). Fitted by Nelder-Mead to the log of the timed means, per model. Printed:
the fit (B TB/s, r KB/µs, [R KB/µs,] overhead KB, c0 µs, RMS log error), and how far the
model's pick among each batch's timed variants is from the fastest; ``--plans``: then each
plan on the last model's fit (model µs, timed µs).

Session 40, 143 timed plans of 35 runs of a batch (the five files above):

| model | B | r | R | overhead | c0 | RMS | picks off the fastest |
|---|---:|---:|---:|---:|---:|---:|---:|
| early ticket | 4.19 | 27.3 | | 70 KB | 13.6 | 5.5% | 1.3% |
| dynamic queue | 3.83 | 28.2 | | 42 KB | 14.0 | 7.3% | 3.9% |
| early ticket, cap per SM | 4.29 | 28.6 | 47.0 | 86 KB | 12.5 | 5.0% | **0.3%** |

(Session 39 fitted the first two to its 82 plans of ``fine_chunks.py``: 5.2% and 5.7% RMS,
1.6% and 2.8% off.)

With the cap, two programs on one SM run at most 23.5 KB/µs each, a lone one 28.6: a plan
that leaves some SMs one program beats one that fills both slots everywhere, as
``occupancy_wait.py`` timed (``1,4_256,3000``: 264 units of 384 tokens, 30.6 µs, against 208
of 512, 28.5).
"""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_variants import force_chunk  # noqa: E402
from ticket_waves import WavesOfWork  # noqa: E402
from workloads import workload_for  # noqa: E402

from sglang_pat.scheduler import PackScheduler  # noqa: E402

PROGRAMS = 264
SMS = 132
MODELS = {  # name: (early ticket, cap per SM)
    "early ticket": (True, False),
    "dynamic queue": (False, False),
    "early ticket, cap per SM": (True, True),
}


def planned_units(spec: str, variant: dict, default_cost=None) -> tuple[np.ndarray, int]:
    """``spec`` planned cold at 32 q / 8 KV heads on 132 SMs with an experiment's variant
    (``cost``, ``chunk``: ``plan_variants.force_chunk``, other ``PackScheduler`` settings):
    its units (bytes-equivalent, 8 an item) and its item count."""
    settings = dict(variant)
    planner = PackScheduler(
        num_kv_heads=8, group_size=4, head_dim=128, num_sms=SMS,
        cost=settings.pop("cost", default_cost),
    )  # fmt: skip
    if "chunk" in settings:
        force_chunk(planner, settings.pop("chunk"))
    for key, value in settings.items():
        setattr(planner, key, value)
    return units_of(planner, spec)


def units_of(planner: PackScheduler, spec: str) -> tuple[np.ndarray, int]:
    """``spec`` planned cold by ``planner`` (8 KV heads): its units (bytes-equivalent, 8 an
    item) and its item count."""
    forest = workload_for(spec).forest
    items = planner.plan_cold(forest, np.arange(forest.num_requests)).items
    units = np.repeat(items[:, 1] * np.asarray(planner.token_cost)[items[:, 5]], 8)
    return units, items.shape[0]


def timed_plans(paths: list[str]) -> list[dict]:
    """Each path's timed variants at 32 q / 8 KV heads, replanned: shape, name, µs, units."""
    rows = []
    for path in paths:
        experiment = Path(path).name.removesuffix(".jsonl")
        variants = importlib.import_module(experiment).VARIANTS
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            if "@" in record["shape"]:
                continue
            for name, times in record["us"].items():
                if name not in variants:
                    continue
                cost = WavesOfWork() if experiment == "fine_chunks" else None
                units, num_items = planned_units(record["shape"], variants[name], cost)
                recorded = record.get("plans", {}).get(name, {}).get("items", num_items)
                if recorded != num_items:
                    raise SystemExit(f"{path}: {record['shape']} {name}: not the timed plan")
                run = (path, record["shape"])
                rows.append(dict(run=run, name=name, us=float(np.mean(times)), units=units))
    return rows


def launch_us(
    units: np.ndarray,
    bandwidth: float,
    rate: float,
    overhead: float,
    early: bool,
    sm_rate: float = np.inf,
) -> float:
    """Makespan of ``units`` (bytes-equivalent) under the fluid model, in µs."""
    units = units + overhead
    count = len(units)
    left = np.zeros(PROGRAMS)
    busy = np.zeros(PROGRAMS, bool)
    queued = np.full(PROGRAMS, -1)  # early ticket: the unit each program holds next
    sm = np.arange(PROGRAMS) % SMS
    first = min(PROGRAMS, count)
    left[:first], busy[:first] = units[:first], True
    ticket = first
    if early:  # every program takes a ticket as it starts, in program order
        taken = min(first, count - ticket)
        queued[:taken] = np.arange(ticket, ticket + taken)
        ticket += taken
    now = 0.0
    while busy.any():
        sharing = np.bincount(sm[busy], minlength=SMS)[sm[busy]]
        speed = np.minimum(min(rate, bandwidth / busy.sum()), sm_rate / sharing)
        step = (left[busy] / speed).min()
        now += step
        left[busy] -= speed * step
        done = np.flatnonzero(busy & (left <= 1e-9 * (1 + units.max())))
        busy[done] = False
        if early:
            starters = [p for p in done if queued[p] >= 0]
            for p in starters:
                left[p], busy[p], queued[p] = units[queued[p]], True, -1
            for p in starters:
                if ticket < count:
                    queued[p], ticket = ticket, ticket + 1
        else:
            for p in done:
                if ticket < count:
                    left[p], busy[p], ticket = units[ticket], True, ticket + 1
    return now


def predict(params: np.ndarray, row: dict, early: bool, per_sm: bool) -> float:
    bandwidth, rate, *sm_rate, overhead, constant = params
    cap = sm_rate[0] * 1e3 if per_sm else np.inf
    units = row["units"]
    return launch_us(units, bandwidth * 1e6, rate * 1e3, overhead * 1e3, early, cap) + constant


def model_variants(batches: list[str], variants: dict[str, dict], fit: tuple) -> None:
    """Each batch's variants (an experiment's ``VARIANTS``) on the fitted model with the early
    ticket and the cap per SM at ``fit`` (B TB/s, r KB/µs, R KB/µs, overhead KB, c0 µs):
    each plan's µs and items, then each variant's geometric mean over the batches as a
    fraction of the first variant's."""
    rows = []
    for spec in batches:
        row = {}
        for name, variant in variants.items():
            units, num_items = planned_units(spec, variant)
            row[name] = predict(np.asarray(fit), dict(units=units), True, True), num_items
        rows.append(row)
        print(spec, "  ".join(f"{n} {us:.1f} ({items})" for n, (us, items) in row.items()))
    first, *others = variants
    for name in others:
        ratios = [row[name][0] / row[first][0] for row in rows]
        print(
            f"{name} / {first}: geometric mean {np.exp(np.mean(np.log(ratios))):.4f}, over 1% "
            f"faster on {sum(r < 0.99 for r in ratios)}, slower on {sum(r > 1.01 for r in ratios)}"
            f", moved {sum(r != 1 for r in ratios)}",
            flush=True,
        )


def main() -> None:
    args = sys.argv[1:]
    show = "--plans" in args  # each plan of the last model: model µs against the timed µs
    rows = timed_plans([a for a in args if a != "--plans"])
    for name, (early, per_sm) in MODELS.items():

        def loss(params: np.ndarray) -> float:
            if min(params) <= 0:
                return 1e9
            errors = [np.log(predict(params, r, early, per_sm) / r["us"]) for r in rows]
            return float(np.mean(np.square(errors)))

        start = [3.9, 28.0, 40.0, 50.0, 14.0] if per_sm else [3.9, 28.0, 50.0, 14.0]
        fit = minimize(
            loss, start, method="Nelder-Mead", options=dict(maxiter=600, xatol=1e-3, fatol=1e-7)
        )
        by_run: dict[tuple, list[tuple[float, float]]] = {}
        for r in rows:
            by_run.setdefault(r["run"], []).append((predict(fit.x, r, early, per_sm), r["us"]))
        off = [min(v)[1] / min(t for _, t in v) - 1 for v in by_run.values()]
        print(
            f"{name}: {np.round(fit.x, 2).tolist()}, RMS {fit.fun**0.5:.3f}, picks "
            f"{np.mean(off):.3f} off the fastest over {len(off)} runs of a batch "
            f"({len(rows)} plans)",
            flush=True,
        )
    if show:
        for r in rows:
            us, timed = predict(fit.x, r, early, per_sm), r["us"]
            print(
                f"{r['run'][1]} {r['name']}: model {us:.1f}, timed {timed:.1f} ({us / timed:.3f})"
            )


if __name__ == "__main__":
    main()
