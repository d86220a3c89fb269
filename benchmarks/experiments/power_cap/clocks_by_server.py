"""SM clocks and power while each server of a detached chain decodes (session 50).

python benchmarks/experiments/power_cap/clocks_by_server.py CHAIN_DIR [MIN_WATTS] [--png OUT]

CHAIN_DIR is a ``chains.sh`` output (``/tmp/r0`` on the device): ``clocks.csv`` and
``throttle.csv`` (nvidia-smi every 0.5 s) and one ``<i>-<server>/server-*.log[.gz]`` per
server.
A row per server and workload (its ``rows.jsonl``, in the order the server ran them). A
workload's samples are those from the cache flush before its first pass (the warm pass, if
any) to its last pass's last log line (the next workload's first flush, or the log's end);
of these, the ones drawing at least MIN_WATTS (default 600) are its busy samples (its passes'
prefill and decode: the chain runs nothing else). Per row: busy samples, median and mean SM
clock, mean power, the share of them with the software power cap (0x4) among the throttle
reasons, and the energy per decoded token: that mean power over the workload's full-batch
decode rate (an approximation, the busy samples include the prefills). Until session 55 a
server's samples spanned its whole log, which mixed the workloads of a server that ran
several; a single workload's figures move a little, its server's start no longer counted
(session 54 at 680 W or more: flashinfer 1,860 then, 1,875 MHz now). With
``--png``, the SM clock and the power of every busy sample against time, by server.
"""

import argparse
import csv
import statistics
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from recount_decode import measured_passes  # noqa: E402
from serving_results import CACHE_FLUSHED, read_rows, read_text  # noqa: E402

SW_POWER_CAP = 0x4


def smi_rows(path: Path) -> list[list[str]]:
    with path.open() as f:
        return [[c.strip() for c in row] for row in list(csv.reader(f))[1:] if row]


def smi_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y/%m/%d %H:%M:%S.%f")


def text_span(text: str) -> tuple[datetime, datetime]:
    """The first and last time stamp of a server log's lines."""
    stamps = [
        datetime.strptime(line[1:20], "%Y-%m-%d %H:%M:%S")
        for line in text.splitlines()
        if line.startswith("[20")
    ]
    return min(stamps), max(stamps)


def workload_spans(log_text: str, workloads: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """Each workload's span in the log of a server that ran ``workloads`` in this order, as
    many passes for each, every pass (warm pass included) after a cache flush."""
    passes = len(CACHE_FLUSHED.findall(log_text)) // len(workloads)
    parts = measured_passes(log_text, workloads, passes, warm=False)
    return {name: text_span("".join(parts[name])) for name in workloads}


def main(chain: Path, min_watts: float, png: Path | None) -> None:
    clocks = [(smi_time(r[0]), float(r[1].split()[0]), float(r[3].split()[0]))
              for r in smi_rows(chain / "clocks.csv")]  # fmt: skip
    capped = {smi_time(r[0]).replace(microsecond=0): int(r[1], 16) & SW_POWER_CAP != 0
              for r in smi_rows(chain / "throttle.csv")}  # fmt: skip
    series = {}
    print(
        "| server | workload | busy samples | SM MHz median | SM MHz mean | W mean "
        "| power-capped | decode tok/s | mJ a decoded token |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for run in sorted(p for p in chain.iterdir() if p.is_dir()):
        logs = list(run.glob("server-*.log*"))
        if not logs or not (run / "rows.jsonl").exists():
            continue
        rows = read_rows(run)
        spans = workload_spans(read_text(logs[0]), [row["workload"] for row in rows])
        for row in rows:
            start, end = spans[row["workload"]]
            busy = [(t, mhz, w) for t, mhz, w in clocks if start <= t <= end and w >= min_watts]
            if not busy:
                print(f"| {run.name} | {row['workload']} | 0 | | | | | | |")
                continue
            series[f"{run.name} {row['workload']}"] = busy
            mhz = [b[1] for b in busy]
            share = statistics.mean(capped.get(t.replace(microsecond=0), False) for t, _, _ in busy)
            watts = statistics.mean(b[2] for b in busy)
            rate = row["decode_tok_s"] or 0
            energy = f"{1000 * watts / rate:.1f}" if rate else ""
            print(
                f"| {run.name} | {row['workload']} | {len(busy)} | {statistics.median(mhz):.0f} "
                f"| {statistics.mean(mhz):.0f} | {watts:.0f} | {share:.0%} | {rate:.0f} "
                f"| {energy} |"
            )

    if png is not None:
        plot(series, png)


def plot(series: dict[str, list[tuple[datetime, float, float]]], png: Path) -> None:
    import matplotlib.pyplot as plt
    from plot import save_png  # selects matplotlib's headless backend

    t0 = min(b[0][0] for b in series.values())
    fig, (clock, power) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for name, busy in series.items():
        seconds = [(t - t0).total_seconds() for t, _, _ in busy]
        clock.plot(seconds, [b[1] for b in busy], "o", label=name)
        power.plot(seconds, [b[2] for b in busy], "o", label=name)
    clock.set_ylabel("SM clock, MHz")
    power.set_ylabel("power, W")
    power.set_xlabel("seconds into the chain's first busy sample")
    clock.legend()
    clock.set_title("H200 while each server decodes (nvidia-smi every 0.5 s)")
    fig.tight_layout()
    save_png(fig, png, dpi=100)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chain", type=Path)
    parser.add_argument("min_watts", type=float, nargs="?", default=600.0)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    main(args.chain, args.min_watts, args.png)
