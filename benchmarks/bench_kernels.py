"""Decode attention, one layer, side by side on one GPU: pat vs SGLang triton vs FlashInfer.

Every provider reads the same KV pool (bf16, pages of 16 shuffled, shared prefixes stored once):
pat and SGLang's triton decode through token slots (``req_to_token`` / ``kv_indices``),
FlashInfer through the page table. Each provider runs in a CUDA graph of ``reps`` × (L2 flush +
attention); the flush-only graph's time is subtracted. The bound is the unique bytes (each KV
token once, Q, O) over the copy bandwidth measured in the same run.

    python benchmarks/bench_kernels.py [--part acceptance|suite|mooncake|served] [--heads 32,8]
    python benchmarks/bench_kernels.py --summarize     # kernels-*.csv -> summary.json, PNG
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import (  # noqa: E402
    ACCEPTANCE_EXTRA,
    NO_SHARING,
    SERVED_BATCHES,
    TREE_SUITE,
    WIDE_FANOUT,
    WORKED_EXAMPLE,
    Workload,
    mooncake_workload,
    page_table,
    tree_workload,
)

from sglang_pat.cost_model import default_tile_menu  # noqa: E402
from sglang_pat.decoder import PatDecoder  # noqa: E402

PAGE = 16
HEAD_CONFIGS = [(32, 32), (32, 8), (64, 8), (16, 8)]
HEAD_DIM = 128
DTYPE = torch.bfloat16


def graph_time_us(fn, flush, reps: int = 10, trials: int = 7) -> float:
    """Median µs of ``fn`` per call inside a CUDA graph, each call after an L2 flush.

    ``flush`` is a buffer to zero (the benchmarks' flush) or a function that flushes.
    """
    flush_fn = flush if callable(flush) else flush.zero_
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    graphs = []
    for with_fn in (True, False):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(reps):
                flush_fn()
                if with_fn:
                    fn()
        graphs.append(graph)
    times = {True: [], False: []}
    for _ in range(trials):
        for with_fn, graph in zip((True, False), graphs):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            end.synchronize()
            times[with_fn].append(start.elapsed_time(end) * 1000 / reps)
    return float(np.median(times[True]) - np.median(times[False]))


def side_by_side_us(fns: dict, flush, rounds: int = 2) -> dict[str, list[float]]:
    """µs of each named ``fn`` (``graph_time_us``), the fns alternated ``rounds`` times so
    that drifting clocks or temperature touch them all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(graph_time_us(fn, flush))
    return times


def decoders_side_by_side(
    batch, decoders: dict[str, PatDecoder], flush, rounds: int = 2
) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """µs of each named decoder's planned forward (pack + merge) on ``batch``
    (``side_by_side_us``), and the output each wrote."""
    outs = {name: torch.empty_like(batch.q) for name in decoders}
    fns = {
        name: lambda d=decoder, o=outs[name]: d.forward(
            batch.q, batch.k, batch.v, o, sm_scale=batch.sm_scale
        )
        for name, decoder in decoders.items()
    }
    return side_by_side_us(fns, flush, rounds), outs


def shape_experiment_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of an experiment that measures shapes each in its own process: the shapes,
    ``--rounds`` side by side, and ``--one`` (this process measures the one shape)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("shapes", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", action="store_true", help="this process runs the one shape")
    return parser


def json_line_of_own_process(script: str, shape: str, *args: str, timeout: int = 300) -> str:
    """``python SCRIPT SHAPE --one ARGS`` in a process of its own (the experiments measure each
    shape apart: session 16 saw a later shape in one process lose the two kernels' overlap);
    the last JSON line it printed, or one with its error."""
    run = subprocess.run(
        [sys.executable, script, shape, "--one", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    return lines[-1] if lines else json.dumps(dict(shape=shape, error=run.stderr[-600:]))


def run_shape_experiment(script: str, doc: str, one: Callable[[str, int], dict]) -> None:
    """An experiment's command line: each shape measured by ``one(shape, rounds)`` in a
    process of its own, one JSON line a shape."""
    args = shape_experiment_parser(doc).parse_args()
    if args.one:
        print(json.dumps(one(args.shapes[0], args.rounds)), flush=True)
        return
    for shape in args.shapes:
        print(json_line_of_own_process(script, shape, "--rounds", str(args.rounds)), flush=True)


def side_by_side_text(times: list[float], out: torch.Tensor, ref: torch.Tensor) -> str:
    """One decoder's side-by-side line: mean µs, each round's µs, max |out - ref|."""
    diff = float((out.float() - ref.float()).abs().max())
    rounds = " ".join(f"{t:.1f}" for t in times)
    return f"{np.mean(times):7.1f} us ({rounds}) max|diff| {diff:.2e}"


def copy_bandwidth_bytes_per_us() -> float:
    src = torch.empty(2**31, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        dst.copy_(src)
    end.record()
    end.synchronize()
    return 2 * src.numel() * 10 / (start.elapsed_time(end) * 1000)


class Batch:
    """One workload laid out for every provider on the GPU."""

    def __init__(self, work: Workload, num_q_heads: int, num_kv_heads: int, seed: int = 0):
        forest = self.forest = work.forest
        self.work = work
        pages, num_pages = page_table(forest, PAGE, seed)
        self.pages = pages
        lens = forest.seq_lens
        positions = np.arange(pages.shape[1] * PAGE)
        slots = pages[:, positions // PAGE] * PAGE + positions % PAGE
        self.req_to_token = torch.zeros(forest.num_requests + 1, slots.shape[1], dtype=torch.int32)
        self.req_to_token[1:] = torch.from_numpy(slots.astype(np.int32))
        self.req_to_token = self.req_to_token.cuda()
        self.pool_rows = np.arange(1, forest.num_requests + 1)
        gen = torch.Generator(device="cuda").manual_seed(seed)
        shape = (num_pages * PAGE, num_kv_heads, HEAD_DIM)
        self.k = torch.randn(shape, generator=gen, device="cuda", dtype=DTYPE)
        self.v = torch.randn(shape, generator=gen, device="cuda", dtype=DTYPE)
        self.q = torch.randn(
            forest.num_requests, num_q_heads, HEAD_DIM, generator=gen, device="cuda", dtype=DTYPE
        )
        self.seq_lens = lens
        self.sm_scale = HEAD_DIM**-0.5
        unique_tokens = int(np.unique(slots[positions[None, :] < lens[:, None]]).shape[0])
        self.unique_tokens = unique_tokens
        self.unique_bytes = unique_tokens * num_kv_heads * HEAD_DIM * 2 * 2 + 2 * self.q.numel() * 2


def batch_for(shape: str) -> Batch:
    """The batch of ``TREE[@Q_HEADS,KV_HEADS]`` (default heads 32, 8), as the experiments
    name their shapes, e.g. ``1,10_4096,416@64,8``."""
    spec, _, heads = shape.partition("@")
    q_heads, kv_heads = map(int, (heads or "32,8").split(","))
    return Batch(tree_workload(spec), q_heads, kv_heads)


def make_decoder(batch: Batch, menu=None, plan: bool = True, cost=None) -> PatDecoder:
    """A decoder sized for ``batch`` (menu and cost model: the defaults unless given), with the
    batch planned as for a CUDA graph unless ``plan`` is False."""
    decoder = PatDecoder(
        num_q_heads=batch.q.shape[1],
        num_kv_heads=batch.k.shape[1],
        head_dim=HEAD_DIM,
        device="cuda",
        max_requests=batch.q.shape[0],
        max_kv_indices=int(batch.seq_lens.sum()),
        kv_dtype=DTYPE,
        menu=menu,
        cost=cost,
    )
    if plan:
        decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
    return decoder


def run_pat(batch: Batch, lean: bool = True):
    group = batch.q.shape[1] // batch.k.shape[1]
    decoder = make_decoder(batch, default_tile_menu(HEAD_DIM, group, lean=lean))
    out = torch.empty_like(batch.q)
    return out, lambda: decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)


def run_sglang_triton(batch: Batch):
    from sglang.kernels.ops.attention.decode_attention import decode_attention_fwd
    from sglang.kernels.ops.attention.metadata import get_num_kv_splits_triton

    b, hq = batch.q.shape[:2]
    lens = torch.from_numpy(batch.seq_lens).cuda()
    kv_indptr = torch.zeros(b + 1, dtype=torch.int32, device="cuda")
    kv_indptr[1:] = torch.cumsum(lens, 0)
    rows = batch.req_to_token[1:].long()
    mask = torch.arange(rows.shape[1], device="cuda")[None, :] < lens[:, None]
    kv_indices = rows[mask]
    max_splits = 8
    splits = torch.empty(b, dtype=torch.int32, device="cuda")
    get_num_kv_splits_triton[(1,)](
        splits,
        lens,
        b,
        1,
        hq,
        batch.k.shape[1],
        max_splits,
        torch.cuda.get_device_properties(0).multi_processor_count,
        MAX_NUM_SEQ=max(256, 1 << (b - 1).bit_length()),
    )
    logits = torch.empty(b, hq, max_splits, HEAD_DIM, dtype=torch.float32, device="cuda")
    lse = torch.empty(b, hq, max_splits, dtype=torch.float32, device="cuda")
    out = torch.empty_like(batch.q)
    return out, lambda: decode_attention_fwd(
        batch.q,
        batch.k,
        batch.v,
        out,
        kv_indptr,
        kv_indices,
        logits,
        lse,
        splits,
        max_splits,
        batch.sm_scale,
        1.0,
        1.0,
    )


def _paged_cache(batch: Batch):
    hkv = batch.k.shape[1]
    return (batch.k.view(-1, PAGE, hkv, HEAD_DIM), batch.v.view(-1, PAGE, hkv, HEAD_DIM))


def _level_pages(batch: Batch, rows: list[int], lo: int, hi: int):
    pages = [torch.from_numpy(batch.pages[r, lo // PAGE : -(-hi // PAGE)]) for r in rows]
    indptr = torch.tensor([0] + np.cumsum([p.shape[0] for p in pages]).tolist(), dtype=torch.int32)
    last = torch.tensor([(hi - lo - 1) % PAGE + 1] * len(rows), dtype=torch.int32)
    return indptr, torch.cat(pages).int(), last


def run_flashinfer_decode(batch: Batch):
    import flashinfer

    hq, hkv = batch.q.shape[1], batch.k.shape[1]
    lens = batch.seq_lens
    pages = [torch.from_numpy(batch.pages[r, : -(-lens[r] // PAGE)]) for r in range(len(lens))]
    indptr = torch.tensor([0] + np.cumsum([p.shape[0] for p in pages]).tolist(), dtype=torch.int32)
    last = torch.from_numpy((lens - 1) % PAGE + 1).int()
    workspace = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(
        workspace, "NHD", use_tensor_cores=hq // hkv >= 4
    )
    wrapper.plan(
        indptr.cuda(),
        torch.cat(pages).int().cuda(),
        last.cuda(),
        hq,
        hkv,
        HEAD_DIM,
        PAGE,
        q_data_type=DTYPE,
        kv_data_type=DTYPE,
        sm_scale=batch.sm_scale,
    )
    out = torch.empty_like(batch.q)
    cache = _paged_cache(batch)
    return out, lambda: wrapper.run(batch.q, cache, out=out)


def run_flashinfer_cascade(batch: Batch):
    import flashinfer

    levels = batch.work.cascade_levels
    if levels is None or len(levels) < 2:
        return None
    hq, hkv = batch.q.shape[1], batch.k.shape[1]
    b = batch.q.shape[0]
    forest = batch.forest
    qo, kv_indptr, kv_indices, last_len = [], [], [], []
    depth_start = 0
    for level, per_node in enumerate(levels):
        groups = list(range(0, b, per_node))
        qo.append(torch.tensor(groups + [b], dtype=torch.int32).cuda())
        if level < len(levels) - 1:
            node = forest.req_node[0]
            ends = []  # the level's node end: the shared path's boundaries, level by level
            while node >= 0:
                ends.append(int(forest.node_end[node]))
                node = forest.node_parent[node]
            depth_end = ends[::-1][level]
            ip, ix, ll = _level_pages(batch, groups, depth_start, depth_end)
            depth_start = depth_end
        else:
            parts = [
                _level_pages(batch, [r], depth_start, int(batch.seq_lens[r])) for r in range(b)
            ]
            ip = torch.tensor(
                [0] + np.cumsum([p[1].shape[0] for p in parts]).tolist(), dtype=torch.int32
            )
            ix = torch.cat([p[1] for p in parts])
            ll = torch.cat([p[2] for p in parts])
        kv_indptr.append(ip.cuda())
        kv_indices.append(ix.cuda())
        last_len.append(ll.cuda())
    workspace = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    wrapper = flashinfer.MultiLevelCascadeAttentionWrapper(len(levels), workspace, "NHD")
    wrapper.plan(
        qo,
        kv_indptr,
        kv_indices,
        last_len,
        hq,
        hkv,
        HEAD_DIM,
        PAGE,
        sm_scale=batch.sm_scale,
        q_data_type=DTYPE,
        kv_data_type=DTYPE,
    )
    cache = _paged_cache(batch)
    holder = {}

    def run():
        holder["out"] = wrapper.run(batch.q, cache)

    run()
    return holder, run


PROVIDERS = {
    "pat": run_pat,
    # pat without the lean kernel: the pack kernel's one launch on every plan (as before
    # session 18, when the gated lean kernel became the default; cost_model.LeanKernel)
    "pat-one-launch": lambda batch: run_pat(batch, lean=False),
    "sglang-triton": run_sglang_triton,
    "flashinfer-decode": run_flashinfer_decode,
    "flashinfer-cascade": run_flashinfer_cascade,
}


def bench_one(
    work: Workload, heads: tuple[int, int], flush: torch.Tensor, bw: float, providers: list[str]
) -> list[dict]:
    batch = Batch(work, *heads)
    bound_us = batch.unique_bytes / bw
    rows, reference = [], None
    for name in providers:
        make = PROVIDERS[name]
        row = dict(
            workload=work.name,
            q_heads=heads[0],
            kv_heads=heads[1],
            batch=batch.q.shape[0],
            unique_tokens=batch.unique_tokens,
            total_tokens=int(batch.seq_lens.sum()),
            provider=name,
            bound_us=bound_us,
        )
        try:
            made = make(batch)
            if made is None:
                continue
            out, fn = made
            us = graph_time_us(fn, flush)
            fn()
            result = out["out"] if isinstance(out, dict) else out
            if reference is None:
                reference = result.float().clone()
            diff = float((result.float() - reference).abs().max())
            row.update(
                us=us,
                tb_s=batch.unique_bytes / us / 1e6,
                ratio_to_bound=us / bound_us,
                max_abs_diff_vs_pat=diff,
            )
        except Exception as error:  # a provider that cannot run this shape is reported, not fatal
            row.update(us=math.nan, error=f"{type(error).__name__}: {error}"[:300])
        rows.append(row)
        print(
            f"{work.name:32s} {heads} {name:20s} {row.get('us', math.nan):9.1f} us "
            f"(bound {bound_us:7.1f}) {row.get('error', '')}",
            flush=True,
        )
    del batch
    torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--part",
        choices=["acceptance", "suite", "mooncake", "served"],
        action="append",
        help="default: all parts",
    )
    parser.add_argument("--heads", action="append", help="q,kv heads for the suite, e.g. 32,8")
    parser.add_argument(
        "--workload",
        action="append",
        default=[],
        metavar="SPEC",
        help="only these tree specs (32 q / 8 KV heads), e.g. 4,128_4096,256 (kernels-custom.csv)",
    )
    parser.add_argument("--commit", default=os.environ.get("PAT_COMMIT", "unknown"))
    parser.add_argument(
        "--providers",
        default=",".join(PROVIDERS),
        help="comma-separated; the first is max_abs_diff's reference (default: all)",
    )
    parser.add_argument(
        "--summarize",
        action="store_true",
        help="only merge the out dir's kernels-*.csv into summary.json + PNG",
    )
    args = parser.parse_args()
    providers = args.providers.split(",")
    if unknown := set(providers) - set(PROVIDERS):
        parser.error(f"--providers: unknown {sorted(unknown)}; known: {list(PROVIDERS)}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.summarize:
        summarize(out_dir)
        return
    parts = args.part or ([] if args.workload else ["acceptance", "suite", "mooncake", "served"])
    heads = (
        [tuple(int(x) for x in h.split(",")) for h in args.heads] if args.heads else HEAD_CONFIGS
    )
    jobs = []
    if "acceptance" in parts:
        jobs += [
            (tree_workload(s), (32, 8)) for s in [WORKED_EXAMPLE, WIDE_FANOUT] + ACCEPTANCE_EXTRA
        ]
    if "suite" in parts:
        jobs += [(tree_workload(s), h) for h in heads for s in TREE_SUITE]
    if "mooncake" in parts:
        jobs += [
            (mooncake_workload(t, start, b), (32, 8))
            for t, start, b in [
                ("conversation", 0, 64),
                ("conversation", 5000, 128),
                ("synthetic", 0, 64),
                ("synthetic", 2000, 128),
            ]
        ]
    if "served" in parts:  # the batches the serving comparison's gsp servers decode
        jobs += [(tree_workload(s), (32, 8)) for s in SERVED_BATCHES]
    jobs += [(tree_workload(s), (32, 8)) for s in args.workload]
    parts += ["custom"] if args.workload else []
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    bw = copy_bandwidth_bytes_per_us()
    print(f"copy bandwidth {bw / 1e6:.2f} TB/s", flush=True)
    meta = dict(
        gpu=torch.cuda.get_device_name(0),
        commit=args.commit,
        date=datetime.date.today().isoformat(),
        command=" ".join(["python"] + sys.argv),
        copy_bandwidth_tb_s=bw / 1e6,
    )
    path = out_dir / f"kernels-{'-'.join(parts)}.csv"
    with open(path, "w", newline="") as f:
        writer = None
        for work, head in jobs:
            for row in bench_one(work, head, flush, bw, providers):
                if writer is None:
                    writer = csv.DictWriter(f, fieldnames=CSV_FIELDS + list(meta))
                    writer.writeheader()
                writer.writerow({**{k: row.get(k, "") for k in CSV_FIELDS}, **meta})
                f.flush()


CSV_FIELDS = [
    "workload",
    "q_heads",
    "kv_heads",
    "batch",
    "unique_tokens",
    "total_tokens",
    "provider",
    "us",
    "bound_us",
    "tb_s",
    "ratio_to_bound",
    "max_abs_diff_vs_pat",
    "error",
]


def summarize(out_dir: Path) -> None:
    from plot import plot_kernels

    rows, meta = [], {}
    for path in sorted(out_dir.glob("kernels-*.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                for key in ("q_heads", "kv_heads", "batch"):
                    row[key] = int(row[key])
                for key in ("us", "bound_us"):
                    row[key] = float(row[key]) if row[key] else math.nan
                meta = {k: row[k] for k in ("gpu", "commit", "date", "copy_bandwidth_tb_s")}
                rows.append(row)

    def us(workload, provider, heads=(32, 8)):
        for row in rows:
            if (row["workload"], row["provider"], (row["q_heads"], row["kv_heads"])) == (
                workload,
                provider,
                heads,
            ):
                return row["us"], row["bound_us"]
        return math.nan, math.nan

    suite_ratios, no_sharing = [], []
    counted = set()  # a tree measured in several files (a custom run too) counts once, as us()
    for row in rows:
        if row["provider"] != "pat" or not row["us"] > 0:
            continue
        heads = (row["q_heads"], row["kv_heads"])
        if (row["workload"], heads) in counted:
            continue
        counted.add((row["workload"], heads))
        fi, _ = us(row["workload"], "flashinfer-decode", heads)
        if row["workload"] in TREE_SUITE and row["workload"] not in NO_SHARING:
            suite_ratios.append(fi / row["us"])
        if row["workload"] in NO_SHARING:
            no_sharing.append(fi / row["us"])
    summary = dict(
        worked_example_us=us(WORKED_EXAMPLE, "pat")[0],
        worked_example_bound_us=us(WORKED_EXAMPLE, "pat")[1],
        wide_fanout_us=us(WIDE_FANOUT, "pat")[0],
        wide_fanout_bound_us=us(WIDE_FANOUT, "pat")[1],
        suite_geomean_vs_flashinfer_decode=(
            float(np.exp(np.mean(np.log(suite_ratios)))) if suite_ratios else math.nan
        ),
        suite_trees_with_sharing=len(suite_ratios),
        no_sharing_min_ratio_vs_flashinfer_decode=min(no_sharing) if no_sharing else math.nan,
        **meta,
        command="python benchmarks/bench_kernels.py --part P [--heads H]  (then --summarize)",
    )
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    plot_kernels(rows, out_dir / "kernels.png", meta)


if __name__ == "__main__":
    main()
