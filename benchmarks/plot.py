"""PNG plots of benchmark rows (matplotlib, headless)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402  (matplotlib's own dependency)

# Plots are committed with their results, and the tracked tree travels with every device call
# (64 MiB in all, the bundle's parts included). Charts of a few flat colours lose nothing visible
# in a 256-colour palette without dithering, and take about 2.6x fewer bytes than matplotlib's
# RGBA PNGs (the 198 plots of session 83: 12.2 -> 4.6 MiB).
PNG_COLOURS = 256

PROVIDER_ORDER = [
    "pat",
    "pat-one-launch",
    "flashinfer-decode",
    "flashinfer-cascade",
    "sglang-triton",
]


def save_png(fig: plt.Figure, path: Path | str, dpi: int) -> None:
    """``fig`` as a palette PNG at ``path`` (``PNG_COLOURS``), closed afterwards."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_palette_png(Image.open(buffer), path)


def write_palette_png(image: Image.Image, path: Path | str) -> None:
    """``image`` quantized to ``PNG_COLOURS`` colours (no dithering) and saved optimized."""
    palette = image.convert("RGB").quantize(
        colors=PNG_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    palette.save(path, format="PNG", optimize=True)


def plot_kernels(
    rows: list[dict], path: Path, meta: dict, heads: tuple[int, int] = (32, 8)
) -> None:
    """µs per workload and provider (log scale) with the roofline bound, one head config."""
    picked = [r for r in rows if (r["q_heads"], r["kv_heads"]) == heads]
    workloads = list(dict.fromkeys(r["workload"] for r in picked))
    if not workloads:
        return
    fig, ax = plt.subplots(figsize=(max(10, 0.75 * len(workloads)), 5.5))
    measured = {r["provider"] for r in picked}  # a run may leave providers out
    providers = [p for p in PROVIDER_ORDER if p in measured]
    providers += sorted(measured - set(providers))
    width = 0.8 / len(providers)
    for i, provider in enumerate(providers):
        values = []
        for w in workloads:
            match = [
                r.get("us", math.nan)
                for r in picked
                if r["workload"] == w and r["provider"] == provider
            ]
            values.append(match[0] if match else math.nan)
        ax.bar([x + i * width for x in range(len(workloads))], values, width, label=provider)
    bounds = [next(r["bound_us"] for r in picked if r["workload"] == w) for w in workloads]
    ax.scatter(
        [x + 0.4 - width / 2 for x in range(len(workloads))],
        bounds,
        marker="_",
        s=400,
        color="black",
        label="bound (unique bytes / copy BW)",
        zorder=3,
    )
    ax.set_yscale("log")
    ax.set_ylabel("µs per layer (CUDA graph, L2 flushed)")
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(workloads))])
    ax.set_xticklabels(workloads, rotation=60, ha="right", fontsize=8)
    ax.set_title(
        f"Decode attention, {heads[0]} q / {heads[1]} KV heads, d=128, bf16 — "
        f"{meta['gpu']}, {meta['date']}, {meta['commit']}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=110)


def plot_tpot_parts(result: dict, names: tuple[str, ...], path: Path) -> None:
    """Each of two servers' mean TPOT as its decode part and its stall part, stacked
    (``tpot_paired.paired``'s figures)."""
    servers = (result["first"], result["second"])
    decode = [s["decode_part_ms"] for s in servers]
    stall = [s["stall_part_ms"] for s in servers]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.bar(names, decode, label="decode part (gaps up to the stall threshold)")
    ax.bar(names, stall, bottom=decode, label="stall part (longer gaps)")
    for i, s in enumerate(servers):
        ax.annotate(f"{s['mean_tpot_ms']:.3f} ms", (i, s["mean_tpot_ms"]), ha="center", va="bottom")
    low, high = result["mean_tpot_ratio_ci95"]
    ax.set_title(
        f"mean TPOT {result['mean_tpot_ratio']:.3f}x (95% CI {low:.3f}-{high:.3f}),"
        f" decode part {result['decode_part_ratio']:.3f}x\n"
        f"{result['requests']} requests over {result['passes']} paired passes",
        fontsize=10,
    )
    ax.set_ylabel("ms")
    ax.legend(loc="lower center", fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=120)
