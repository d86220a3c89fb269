"""Mean TPOT of two servers on the same replay, request by request (CPU).

    python benchmarks/tpot_paired.py PAT.jsonl FLASHINFER.jsonl [--out paired.json]
        [--plot paired.png] [--passes N]

Each JSONL holds one line per measured pass of bench_serving with ``--output-details`` (the
Mooncake workloads of ``serving_workloads.py`` ask for it; ``bench_serving.py --passes N``
writes N lines). Pass k of the first server is paired with pass k of the second; the requests
must be the same (input and output lengths), as a replay with one seed gives. ``--passes N``
pairs only the first N passes of each, as when one server's run was cut short (session 56:
flashinfer's second pass lost to the device time).

Why: on the Mooncake conversation replay the mean TPOT moved 6% from one flashinfer run to
the next (8.23 ms in session 27, 7.73 in session 28), while the two servers' decode steps
differ by 1-4%. A request's TPOT is its inter-token gaps over its output; a gap that holds a
prefill (tens to hundreds of ms) lands on whichever requests happen to be decoding then, and a
few short requests decide the mean. So each server's mean TPOT is split into

- the *decode part*: the gaps up to ``--stall-factor`` × the pair's median gap (decode steps,
  where the attention backend differs), and
- the *stall part*: the longer gaps (prefills and other pauses, which both servers run with
  FlashInfer's prefill, so they differ by timing, not by backend),

with a paired bootstrap over (pass, request) for the ratio of the two servers' means, and per
pass the requests whose stall parts differ most (``deciding``): a short request whose few gaps
catch a prefill on one server and not the other moves the mean by itself (session 38: one
3-token request, +51 ms of stall on pat's side, made pass 1 read 1.072x). Their TTFT plus stall
gaps shows whether that prefill only fell on the other side of the first token.

JSONL files may be gzipped (``.gz``), as the results directories keep them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np
from serving_results import read_text

BOOTSTRAP_SAMPLES = 2000
DECIDING_PER_PASS = 3  # requests listed per pass under ``deciding``


def read_passes(path: Path) -> list[dict]:
    """The passes of a JSONL; each must carry bench_serving's per-request details."""
    passes = [json.loads(line) for line in read_text(path).splitlines() if line.strip()]
    if not passes:
        raise ValueError(f"{path}: no passes")
    for k, result in enumerate(passes):
        missing = {"itls", "output_lens", "input_lens"} - set(result)
        if missing:
            raise ValueError(f"{path} pass {k}: no {sorted(missing)} (run with --output-details)")
        if any(result.get("errors") or []):
            raise ValueError(f"{path} pass {k}: failed requests cannot be paired")
    return passes


def gaps_ms(result: dict) -> tuple[list[np.ndarray], np.ndarray]:
    """Per request, its inter-token gaps in ms, and its output length."""
    itls = [np.asarray(gaps, dtype=np.float64) * 1e3 for gaps in result["itls"]]
    return itls, np.asarray(result["output_lens"], dtype=np.int64)


def split_tpot(itls: list[np.ndarray], output_lens: np.ndarray, threshold_ms: float):
    """Per request with more than one output token: (decode part, stall part) of its TPOT,
    gaps over ``threshold_ms`` being stalls; TPOT = (decode + stall), as bench_serving's
    (latency - TTFT) / (output tokens - 1)."""
    decode, stall = [], []
    for gaps, n in zip(itls, output_lens):
        if n > 1:
            long = gaps > threshold_ms
            decode.append(gaps[~long].sum() / (n - 1))
            stall.append(gaps[long].sum() / (n - 1))
    return np.asarray(decode), np.asarray(stall)


def deciding(a: dict, b: dict, threshold_ms: float, count: int) -> list[dict]:
    """The ``count`` requests of one pass (same requests on both servers) whose stall parts
    differ most, each with its stall part and its TTFT plus stall gaps on both servers (ms;
    TTFT where the JSONL has ``ttfts``)."""
    (itl_a, out), (itl_b, _) = gaps_ms(a), gaps_ms(b)
    rows = []
    for i, (gaps_a, gaps_b, n) in enumerate(zip(itl_a, itl_b, out.tolist())):
        if n < 2:
            continue
        stalls = [float(g[g > threshold_ms].sum()) for g in (gaps_a, gaps_b)]
        ttfts = [r["ttfts"][i] * 1e3 if "ttfts" in r else 0.0 for r in (a, b)]
        rows.append(
            dict(
                request=i,
                output_tokens=n,
                stall_part_ms=[stall / (n - 1) for stall in stalls],
                ttft_plus_stalls_ms=[t + stall for t, stall in zip(ttfts, stalls)],
            )
        )
    rows.sort(key=lambda r: -abs(r["stall_part_ms"][0] - r["stall_part_ms"][1]))
    return rows[:count]


def paired(first: list[dict], second: list[dict], stall_factor: float, seed: int = 0) -> dict:
    """Figures of the first server against the second over their paired passes."""
    if len(first) != len(second):
        raise ValueError(f"passes: {len(first)} against {len(second)}; pair equal numbers")
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("d1", "s1", "d2", "s2")}
    per_pass = []
    for k, (a, b) in enumerate(zip(first, second)):
        (itl_a, out_a), (itl_b, out_b) = gaps_ms(a), gaps_ms(b)
        if a["input_lens"] != b["input_lens"] or not np.array_equal(out_a, out_b):
            raise ValueError(f"pass {k}: the two servers did not serve the same requests")
        every_gap = np.concatenate([*itl_a, *itl_b])
        threshold = stall_factor * float(np.median(every_gap)) if every_gap.size else 0.0
        d1, s1 = split_tpot(itl_a, out_a, threshold)
        d2, s2 = split_tpot(itl_b, out_b, threshold)
        for key, value in zip(("d1", "s1", "d2", "s2"), (d1, s1, d2, s2)):
            parts[key].append(value)
        per_pass.append(
            dict(
                threshold_ms=threshold,
                mean_tpot_ms=[float((d1 + s1).mean()), float((d2 + s2).mean())],
                reported_mean_tpot_ms=[a.get("mean_tpot_ms"), b.get("mean_tpot_ms")],
                deciding=deciding(a, b, threshold, DECIDING_PER_PASS),
            )
        )
    d1, s1, d2, s2 = (np.concatenate(parts[key]) for key in ("d1", "s1", "d2", "s2"))
    t1, t2 = d1 + s1, d2 + s2
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, t1.size, size=(BOOTSTRAP_SAMPLES, t1.size))

    def ratio_ci(x: np.ndarray, y: np.ndarray) -> list[float]:
        ratios = x[draws].mean(axis=1) / y[draws].mean(axis=1)
        return [float(v) for v in np.percentile(ratios, [2.5, 97.5])]

    def server(d: np.ndarray, s: np.ndarray) -> dict:
        return dict(
            mean_tpot_ms=float((d + s).mean()),
            decode_part_ms=float(d.mean()),
            stall_part_ms=float(s.mean()),
        )

    return dict(
        requests=int(t1.size),
        passes=len(first),
        stall_factor=stall_factor,
        first=server(d1, s1),
        second=server(d2, s2),
        mean_tpot_ratio=float(t1.mean() / t2.mean()),
        mean_tpot_ratio_ci95=ratio_ci(t1, t2),
        decode_part_ratio=float(d1.mean() / d2.mean()),
        decode_part_ratio_ci95=ratio_ci(d1, d2),
        by_pass=per_pass,
    )


def table(result: dict, names: tuple[str, str]) -> str:
    a, b = result["first"], result["second"]
    lines = [
        f"{result['requests']} requests over {result['passes']} paired passes; stalls: gaps over"
        f" {result['stall_factor']} x the median gap",
        "",
        f"| | {names[0]} | {names[1]} | ratio | 95% CI |",
        "|---|---:|---:|---:|---|",
    ]
    ci = "{:.3f}-{:.3f}".format
    for label, key in (("mean TPOT", "mean_tpot"), ("decode part", "decode_part")):
        lines.append(
            f"| {label} ms | {a[key + '_ms']:.3f} | {b[key + '_ms']:.3f} "
            f"| {result[key + '_ratio']:.3f} | {ci(*result[key + '_ratio_ci95'])} |"
        )
    lines.append(f"| stall part ms | {a['stall_part_ms']:.3f} | {b['stall_part_ms']:.3f} | | |")
    lines += ["", "Requests whose stall parts differ most, per pass (ms; each server's own):", ""]
    lines += ["| pass | request | output tokens | stall part | TTFT + stall gaps |"]
    lines += ["|---:|---:|---:|---|---|"]
    pair = "{:.1f} / {:.1f}".format
    for k, figures in enumerate(result["by_pass"]):
        for r in figures["deciding"]:
            lines.append(
                f"| {k + 1} | {r['request']} | {r['output_tokens']} | {pair(*r['stall_part_ms'])}"
                f" | {pair(*r['ttft_plus_stalls_ms'])} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="JSONL of the server compared (pat)")
    parser.add_argument("second", type=Path, help="JSONL of the reference server")
    parser.add_argument("--stall-factor", type=float, default=3.0)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--plot", type=Path, help="draw the two servers' TPOT parts here (PNG)")
    parser.add_argument("--passes", type=int, help="pair only the first N passes of each file")
    args = parser.parse_args()
    if args.stall_factor <= 1:
        parser.error(f"--stall-factor must exceed 1, got {args.stall_factor}")
    first, second = read_passes(args.first), read_passes(args.second)
    if args.passes is not None:
        if not 1 <= args.passes <= min(len(first), len(second)):
            parser.error(
                f"--passes {args.passes}: the files hold {len(first)} and {len(second)} passes"
            )
        first, second = first[: args.passes], second[: args.passes]
    result = paired(first, second, args.stall_factor)
    result["files"] = [str(args.first), str(args.second)]
    result["command"] = " ".join(["python"] + sys.argv)
    result["date"] = datetime.date.today().isoformat()
    names = tuple(
        n.removesuffix(".gz").removesuffix(".jsonl") for n in (args.first.name, args.second.name)
    )
    print(table(result, names))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.plot:
        from plot import plot_tpot_parts  # matplotlib only when asked

        plot_tpot_parts(result, names, args.plot)


if __name__ == "__main__":
    main()
