"""CPU: a fluid model of the pack kernel's launch, fitted to timed plans, with the kernel's early
ticket (a program takes its next unit's ticket as it starts its current one) or a dynamic queue.

    export PAT_MOONCAKE_DIR=../shared/data/mooncake
    python benchmarks/experiments/chunks/ticket_model.py \
        ../../results/2026-12-02-NVIDIA-H200/session39-kernels/fine_chunks.jsonl \
        ../../results/2026-12-02-NVIDIA-H200/session38-kernels/fine_chunks.jsonl

Each ``fine_chunks.py`` variant (its own planner settings, 32 q / 8 KV heads, 132 SMs) is
planned again here with the chunk cost it was timed with (``ticket_waves.WavesOfWork``);
each item is 8 units of ``kv_len x token_cost`` bytes-equivalent plus an overhead. The
units run on 264 programs that share a bandwidth B, each at most r, and the launch costs a
constant c0 on top (merge and launch). Fitted by Nelder-Mead to the log of the timed means,
once per dealing. Printed: the fit (B TB/s, r KB/µs, overhead KB, c0 µs, RMS log error), and
how far the model's pick among each batch's timed variants is from the fastest.
"""

import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fine_chunks import VARIANTS  # noqa: E402
from plan_variants import force_chunk  # noqa: E402
from ticket_waves import WavesOfWork  # noqa: E402
from workloads import workload_for  # noqa: E402

from sglang_pat.scheduler import PackScheduler  # noqa: E402

PROGRAMS = 264


def timed_plans(paths: list[str]) -> list[dict]:
    rows, seen = [], set()
    for path in paths:
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            if record["shape"] in seen:
                continue
            seen.add(record["shape"])
            forest = workload_for(record["shape"]).forest
            for name, times in record["us"].items():
                if name not in VARIANTS:
                    continue
                planner = PackScheduler(  # the cost model they were timed with (be30684)
                    num_kv_heads=8, group_size=4, head_dim=128, num_sms=132, cost=WavesOfWork()
                )
                settings = dict(VARIANTS[name])
                if "chunk" in settings:
                    force_chunk(planner, settings.pop("chunk"))
                for key, value in settings.items():
                    setattr(planner, key, value)
                items = planner.plan_cold(forest, np.arange(forest.num_requests)).items
                units = np.repeat(items[:, 1] * np.asarray(planner.token_cost)[items[:, 5]], 8)
                rows.append(
                    dict(shape=record["shape"], name=name, us=float(np.mean(times)), units=units)
                )
    return rows


def launch_us(
    units: np.ndarray, bandwidth: float, rate: float, overhead: float, early: bool
) -> float:
    """Makespan of ``units`` (bytes-equivalent) under the fluid model, in µs."""
    units = units + overhead
    count = len(units)
    left = np.zeros(PROGRAMS)
    busy = np.zeros(PROGRAMS, bool)
    queued = np.full(PROGRAMS, -1)  # early ticket: the unit each program holds next
    first = min(PROGRAMS, count)
    left[:first], busy[:first] = units[:first], True
    ticket = first
    if early:  # every program takes a ticket as it starts, in program order
        taken = min(first, count - ticket)
        queued[:taken] = np.arange(ticket, ticket + taken)
        ticket += taken
    now = 0.0
    while busy.any():
        speed = min(rate, bandwidth / busy.sum())
        step = left[busy].min()
        now += step / speed
        left[busy] -= step
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


def predict(params: np.ndarray, row: dict, early: bool) -> float:
    bandwidth, rate, overhead, constant = params
    return launch_us(row["units"], bandwidth * 1e6, rate * 1e3, overhead * 1e3, early) + constant


def main() -> None:
    rows = timed_plans(sys.argv[1:])
    for early in (True, False):

        def loss(params: np.ndarray) -> float:
            if min(params) <= 0:
                return 1e9
            return float(np.mean([np.log(predict(params, r, early) / r["us"]) ** 2 for r in rows]))

        fit = minimize(
            loss,
            [3.9, 28.0, 50.0, 14.0],
            method="Nelder-Mead",
            options=dict(maxiter=400, xatol=1e-3, fatol=1e-7),
        )
        by_shape: dict[str, list[tuple[float, float]]] = {}
        for r in rows:
            by_shape.setdefault(r["shape"], []).append((predict(fit.x, r, early), r["us"]))
        off = [min(v)[1] / min(t for _, t in v) - 1 for v in by_shape.values()]
        name = "early ticket" if early else "dynamic queue"
        print(
            f"{name}: B, r, overhead, c0 = {np.round(fit.x, 2).tolist()}, RMS {fit.fun**0.5:.3f}, "
            f"picks {np.mean(off):.3f} off the fastest over {len(off)} batches"
        )


if __name__ == "__main__":
    main()
