"""The benchmarks' CUDA-graph timing harness, shared by ``bench_kernels.py`` and the experiments.

Each measured function runs in a CUDA graph of ``reps`` × (L2 flush + call); the flush-only
graph's time is subtracted. Experiments that compare decoders alternate them side by side, and
those whose shapes interfere measure each shape in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from sglang_pat.decoder import PatDecoder


def warm_up(fn) -> None:
    """Two eager calls on a side stream (compiles, allocator warm), as capture wants."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()


def timed_graphs(fn, flush, reps: int = 10) -> tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph]:
    """The graph of ``reps`` × (L2 flush + ``fn``) and the flush-only graph. A decoder in
    ``fn`` runs its plan's form (the pair, or the all-items launch where ``capture_form`` is
    False: ``providers.pat_decoder(forms=True)``), as a server's graph of that form does."""
    flush_fn = flush if callable(flush) else flush.zero_
    graphs: list[torch.cuda.CUDAGraph] = []

    def capture(body=None) -> None:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(reps):
                flush_fn()
                if body is not None:
                    body()
        graphs.append(graph)

    capture(fn)
    capture()
    return graphs[0], graphs[1]


def graphs_us(
    graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph], reps: int = 10, trials: int = 7
) -> float:
    """Median µs per call of ``timed_graphs``' pair: the flush-only graph's time subtracted."""
    times: list[list[float]] = [[], []]
    for _ in range(trials):
        for i, graph in enumerate(graphs):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            end.synchronize()
            times[i].append(start.elapsed_time(end) * 1000 / reps)
    return float(np.median(times[0]) - np.median(times[1]))


def read_flush(buffer: torch.Tensor) -> Callable[[], object]:
    """A flush that only reads: the sum of ``buffer`` (the benchmarks' flush buffer) as floats,
    into a scalar of its own. It leaves the L2 holding clean lines, where the benchmarks'
    ``zero_`` leaves dirty ones that the timed call writes back; yet layers timed after it ran
    slower than after ``zero_``, for reasons not found (experiments/pair_order/, session 63)."""
    floats, total = buffer.view(torch.float32), torch.empty((), device=buffer.device)
    return lambda: torch.sum(floats, dim=0, out=total)


def graph_time_us(fn, flush, reps: int = 10, trials: int = 7) -> float:
    """Median µs of ``fn`` per call inside a CUDA graph, each call after an L2 flush.

    ``flush`` is a buffer to zero (the benchmarks' flush) or a function that flushes.
    """
    warm_up(fn)
    return graphs_us(timed_graphs(fn, flush, reps), reps, trials)


def side_by_side_us(fns: dict, flush, rounds: int = 2) -> dict[str, list[float]]:
    """µs of each named ``fn`` (``graph_time_us``), the fns alternated ``rounds`` times so
    that drifting clocks or temperature touch them all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(graph_time_us(fn, flush))
    return times


# The shapes the lean pair's experiments time (gsp 4 × 32 at serving's tails, the acceptance
# trees, gsp defaults' batch).
PAIR_SHAPES = [
    "gsp:4x32:4096+140:b128:s0",
    "gsp:4x32:4096+208:b128:s0",
    "gsp:4x32:4096+256:b128:s0",
    "gsp:4x32:4096+300:b128:s0",
    "gsp:4x32:4096+368:b128:s0",
    "4,128_4096,256",
    "1,64_4096,512",
    "1,256_2048,32",
    "gsp:64x16:2048+256:b256:s0",
]


def run_shapes(run_shape: Callable[[str, torch.Tensor], None], shapes: list[str]) -> None:
    """``run_shape(shape, flush)`` for each shape (default ``PAIR_SHAPES``) with the benchmarks'
    256 MiB flush buffer, after a header line naming the GPU and the command."""
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    print(f"# {torch.cuda.get_device_name()}, {sys.argv}", flush=True)
    for shape in shapes or PAIR_SHAPES:
        run_shape(shape, flush)
        torch.cuda.empty_cache()


def checked_medians(
    fns: dict, outs: dict[str, torch.Tensor], checked: tuple[str, ...], flush, rounds: int = 3
) -> tuple[dict[str, float], dict[str, float], str]:
    """The ``checked`` variants run once each into NaN-filled outputs, then every fn timed side
    by side (``side_by_side_us``). Returns the median µs by name, each checked variant's max
    |difference| from the first one's output, and the medians as one line of text."""
    for name in checked:
        outs[name].fill_(float("nan"))
        fns[name]()
    torch.cuda.synchronize()
    first = outs[checked[0]].float()
    errors = {name: (outs[name].float() - first).abs().max().item() for name in checked[1:]}
    times = side_by_side_us(fns, flush, rounds=rounds)
    medians = {name: statistics.median(us) for name, us in times.items()}
    line = ", ".join(f"{name} {us:6.1f}" for name, us in medians.items()) + " us"
    return medians, errors, line


def items_text(plan) -> str:
    """A plan's items as the experiments print them: ``items N (shared M)``."""
    return f"items {plan.items.shape[0]} (shared {plan.num_shared_items})"


def decoder_fns(batch, decoders: dict[str, PatDecoder]) -> tuple[dict, dict[str, torch.Tensor]]:
    """Each named decoder's planned forward (pack + merge) on ``batch`` as a function of no
    arguments, and the output buffer it writes."""
    outs = {name: torch.empty_like(batch.q) for name in decoders}
    fns = {
        name: lambda d=decoder, o=outs[name]: d.forward(
            batch.q, batch.k, batch.v, o, sm_scale=batch.sm_scale
        )
        for name, decoder in decoders.items()
    }
    return fns, outs


def decoders_side_by_side(
    batch, decoders: dict[str, PatDecoder], flush, rounds: int = 2
) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """µs of each named decoder's planned forward (pack + merge) on ``batch``
    (``side_by_side_us``), and the output each wrote."""
    fns, outs = decoder_fns(batch, decoders)
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
    shape apart: session 16 saw a later shape in one process lose the two kernels' overlap,
    likely the stream-pool collision fixed in d05665a, experiments/stream_pool/); the last
    JSON line it printed, or one with its error."""
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
