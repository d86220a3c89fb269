"""The serving comparison's results: the figures read from a server's log and bench_serving's
output, then rows.jsonl in, serving.csv, serving.md, serving-summary.json and serving.png out
(see bench_serving.py)."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path

DECODE_LINE = re.compile(
    r"Decode batch, #running-req: (\d+).*?gen throughput \(token/s\): ([\d.]+)"
)
# The server's answer to bench_serving's --flush-cache, logged before each pass's requests.
CACHE_FLUSHED = re.compile(r"Cache flushed successfully!")
# A request the server refuses (a prompt longer than the context, say) is logged so, while
# bench_serving still counts it as a successful request: such a run is marked failed.
SERVER_ERROR = re.compile(r"\[http_server\] Error: (.*)")
MAX_ITL = re.compile(r"Max ITL \(ms\):\s+([\d.]+)")
REPLAY_SKIPPED = re.compile(r"mooncake_replay: kept \d+ records, skipped (\d+)")


def read_text(path: Path) -> str:
    """A log or JSONL as text, gzipped (``.gz``, as the results directories keep them) or not."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode()
    return path.read_text()


def decode_throughput(log_text: str, batch: int) -> tuple[float | None, int]:
    """Median gen throughput over decode log lines at full batch, and the lines used. Each
    measured pass's first such line is dropped: its interval still holds the batch's
    prefills. A pass starts with bench_serving's ``--flush-cache``, which the server logs."""
    return pass_decode_throughput(CACHE_FLUSHED.split(log_text), batch)


def full_batch_lines(pass_text: str, batch: int) -> list[re.Match]:
    """A pass's decode log lines at full batch (95% of ``batch`` running or more), its first
    such line left out: that interval still holds the pass's prefills."""
    return [line for line in DECODE_LINE.finditer(pass_text) if int(line[1]) >= 0.95 * batch][1:]


def pass_decode_throughput(passes: list[str], batch: int) -> tuple[float | None, int]:
    """``decode_throughput`` over the server log texts of the passes, one each."""
    used = []
    for text in passes:
        if batch:
            used += [float(line[2]) for line in full_batch_lines(text, batch)]
        else:  # arrivals set the batch: every interval
            used += [float(t) for n, t in DECODE_LINE.findall(text) if int(n) > 1]
    return (statistics.median(used) if used else None), len(used)


def server_errors(log_text: str) -> list[str]:
    """The messages of the requests that failed in the server, from its log."""
    return SERVER_ERROR.findall(log_text)


def missing_output(result: dict, tolerance: float = 0.05) -> str | None:
    """Why bench_serving's result lacks output, or None: fewer tokens came back than the
    requests asked for (re-tokenizing the text of random ids loses a few, 0.2% on random-ids)."""
    asked = result.get("total_output_tokens")
    got = result.get("total_output_tokens_retokenized")
    if asked is not None and got is not None and got < (1 - tolerance) * asked:
        return f"only {got} of the {asked} output tokens asked for came back"
    return None


def pass_figures(results: list[dict]) -> dict:
    """A row's latency figures from bench_serving's results of one or more measured passes of
    the same requests: means of the means (mean TPOT, mean ITL, output tok/s), medians of the
    medians, and each pass's mean TPOT, which moves by several percent from run to run on
    the Mooncake replays (a few short requests that meet a prefill decide it)."""
    if not results:
        raise ValueError("results: no measured pass")

    def combined(key: str, how: Callable[[list], float]) -> float | None:
        values = [result.get(key) for result in results]
        return None if None in values else how(values)

    mean, median = statistics.fmean, statistics.median
    return dict(
        median_itl_ms=combined("median_itl_ms", median),
        mean_tpot_ms=combined("mean_tpot_ms", mean),
        median_tpot_ms=combined("median_tpot_ms", median),
        mean_itl_ms=combined("mean_itl_ms", mean),
        output_tok_s=combined("output_throughput", mean),
        median_ttft_ms=combined("median_ttft_ms", median),
        completed=combined("completed", sum),
        passes=len(results),
        mean_tpot_ms_by_pass=[result.get("mean_tpot_ms") for result in results],
    )


def server_label(row: dict) -> str:
    """The row's backend with the ``SGLANG_PAT_*`` variables its servers inherited, which
    ``bench_serving.run_line`` puts first on the run line: two pat servers of one comparison
    (the lean kernel off and on) stay apart in the merged tables."""
    words = row.get("run", "").split()
    pat_env = list(itertools.takewhile(lambda word: word.startswith("SGLANG_PAT_"), words))
    return " ".join([row["backend"], *pat_env])


def read_rows(run: Path) -> list[dict]:
    """Rows of a run directory; a later row of the same (workload, server) replaces one."""
    rows: dict[tuple[str, str], dict] = {}
    for line in (run / "rows.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows[row["workload"], server_label(row)] = row
    return list(rows.values())


def write_results(rows: list[dict], out: Path, gpu: str) -> None:
    """serving.csv, serving.md, serving-summary.json and serving.png from the rows."""
    out.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(out / "serving.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    keys = ("decode_tok_s", "median_itl_ms", "mean_tpot_ms", "output_tok_s", "server_errors")
    commits = sorted({row.get("commit", "unknown") for row in rows})
    dates = sorted({row.get("date", "unknown") for row in rows})
    runs = list(dict.fromkeys(row.get("run", "") for row in rows))
    summary: dict = dict(gpu=gpu, commit=",".join(commits), date=",".join(dates), commands=runs)
    for row in rows:
        summary.setdefault(row["workload"], {})[server_label(row)] = {k: row.get(k) for k in keys}
    (out / "serving-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    fmt = lambda value, spec: "n/a" if value is None else format(value, spec)  # noqa: E731
    table = [
        "| workload | backend | decode tok/s | median ITL ms | mean TPOT ms | output tok/s "
        "| failed requests |"
    ]
    table.append("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        table.append(
            f"| {row['workload']} | {server_label(row)} | {fmt(row.get('decode_tok_s'), '.0f')} "
            f"| {fmt(row.get('median_itl_ms'), '.2f')} | {fmt(row.get('mean_tpot_ms'), '.2f')} "
            f"| {fmt(row.get('output_tok_s'), '.0f')} | {fmt(row.get('server_errors'), 'd')} |"
        )
    header = f"{gpu}, commit {summary['commit']}, {summary['date']}\n\n"
    header += "".join(f"`{run}`\n\n" for run in runs)
    (out / "serving.md").write_text(header + "\n".join(table) + "\n")
    print("\n".join(table), flush=True)
    plot(rows, out / "serving.png", f"{gpu}, {summary['date']}")


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib.pyplot as plt
    from plot import save_png  # selects matplotlib's headless backend

    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    backends = list(dict.fromkeys(server_label(r) for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    for ax, key, label in (
        (axes[0], "decode_tok_s", "decode tok/s (full batch; replays: every step)"),
        (axes[1], "median_itl_ms", "median ITL (ms)"),
        (axes[2], "mean_tpot_ms", "mean TPOT (ms)"),
    ):
        width = 0.8 / len(backends)
        for i, backend in enumerate(backends):
            values = [
                next(
                    (
                        r.get(key) or 0
                        for r in rows
                        if r["workload"] == w and server_label(r) == backend
                    ),
                    0,
                )
                for w in workloads
            ]
            ax.bar([x + i * width for x in range(len(workloads))], values, width, label=backend)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(workloads))], workloads, rotation=20)
        ax.set_ylabel(label)
    # One legend for the three panels, under them: inside a panel it hides the bars.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(backends))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_png(fig, path, dpi=120)
