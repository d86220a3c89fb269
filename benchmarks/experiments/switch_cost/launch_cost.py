"""Experiment: what a pack-kernel launch with no work costs in a CUDA graph (session 78).

python benchmarks/experiments/switch_cost/launch_cost.py [SHAPE] [--rounds 3]

``probe.py`` found that the all-items launch given no items costs a split plan's layer 7-11 µs
after the pair's join, where a one-element add costs 2 µs. This times launches that do no work,
each alone in a CUDA graph (``graph_time_us``: ten calls, the flush-only graph subtracted),
after the benchmarks' L2 flush and after a 4-byte one (their code and data then stay in L2):
- a one-element add (``tiny``);
- each build of the pack kernel the decoder launches (``all``, ``shared``, ``private``) on its
  own grid, its header all zeros so that every program exits at once;
- no empty merge (its grid is the batch's; the plan's merge is a sequence step, below);
- ``--sequences``: launches one after the other in one graph, comma-separated names: the empty
  launches above, ``pair`` (the decoder's planned forward: the pair and its merge),
  ``shared_real``, ``private_real`` and ``all_real`` (one part of the pair, or the all-items
  launch, alone on the plan's header), ``merge`` (the plan's merge) and ``gemm`` (a layer's
  QKV projection of Llama-3-8B at M = the batch: [B, 4096] × [4096, 6144] in bf16, as a
  server runs before each attention layer).
It prints each build's registers, shared memory and cubin size: code that the flush evicted is
fetched again from memory by each launch.
"""

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import graph_time_us  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402
from sglang_pat.kernels.launch import merge_states, pack_decode  # noqa: E402


def part_programs(decoder, part: str) -> int:
    """The grid of the decoder's ``part`` launch."""
    return decoder.num_private_programs if part == "private" else decoder.num_programs


def pack_launch(decoder, batch, part: str, out: torch.Tensor | None = None):
    """A launch of the decoder's ``part`` build ("all", "shared" or "private") on its own
    grid, as a function of no arguments that returns Triton's compiled kernel. With ``out``,
    on the plan's header and queue, writing ``out``; without, it finds no work (a header of
    zeros, a queue of its own, so that it may run beside the pair's launches, writing
    nothing)."""
    if out is not None:
        header = decoder.header_all if part == "all" else decoder.header
        queue, o = decoder.queue, out
    else:
        header, queue = torch.zeros_like(decoder.header), torch.zeros_like(decoder.queue)
        o = torch.empty_like(batch.q)
    args = (batch.q, batch.k, batch.v, o, decoder.kv_indices, decoder.items, decoder.members)
    args += (header, queue, decoder.partial_o, decoder.partial_lse)
    programs = part_programs(decoder, part)
    options = dict(menu=decoder.menu, num_programs=programs, sm_scale=batch.sm_scale, part=part)
    return lambda: pack_decode(*args, **options)


def in_order(launches):
    """The ``launches`` (functions of no arguments) one after the other, as one function."""

    def run():
        for launch in launches:
            launch()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", nargs="?", default="gsp:4x32:4096+256:b128:s0")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequences", nargs="*", default=[])
    args = parser.parse_args()
    print(f"# {torch.cuda.get_device_name()}, {sys.argv}", flush=True)
    batch = batch_for(args.shape)
    decoder = make_decoder(batch)
    tiny = torch.zeros(1, device="cuda")
    parts = ("all", "shared", "private")
    compiled = {}

    def recorded(part: str, launch):
        def run():
            compiled[part] = launch()

        return run

    real_out = torch.empty_like(batch.q)
    out = torch.empty_like(batch.q)
    steps = {"tiny": lambda: tiny.add_(1)}
    steps.update({part: recorded(part, pack_launch(decoder, batch, part)) for part in parts})
    steps["pair"] = lambda: decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
    for part in parts:
        steps[f"{part}_real"] = pack_launch(decoder, batch, part, out=real_out)
    steps["merge"] = lambda: merge_states(
        real_out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr
    )

    hidden = torch.randn(batch.q.shape[0], 4096, device="cuda", dtype=torch.bfloat16)
    qkv_weight = torch.randn(4096, 6144, device="cuda", dtype=torch.bfloat16)
    qkv = hidden.new_empty(batch.q.shape[0], 6144)
    steps["gemm"] = lambda: torch.mm(hidden, qkv_weight, out=qkv)

    fns = {name: steps[name] for name in ("tiny", *parts)}
    fns.update({text: in_order([steps[n] for n in text.split(",")]) for text in args.sequences})
    flushes = {
        "flush": torch.empty(2**28, dtype=torch.uint8, device="cuda"),
        "no flush": torch.empty(4, dtype=torch.uint8, device="cuda"),
    }
    times = {(f, n): [] for f in flushes for n in fns}
    for _ in range(args.rounds):
        for flush_name, flush in flushes.items():
            for name, fn in fns.items():
                times[flush_name, name].append(graph_time_us(fn, flush))
    for part, kernel in compiled.items():
        kernel._init_handles()  # n_regs is read as the module loads
        cubin = len(kernel.asm.get("cubin", b""))
        print(
            f"{part}: {part_programs(decoder, part)} programs, {kernel.n_regs} registers, "
            f"{kernel.metadata.shared} B shared, {kernel.metadata.num_warps} warps, "
            f"cubin {cubin / 1024:.0f} KiB",
            flush=True,
        )
    for (flush_name, name), us in times.items():
        median = statistics.median(us)
        print(f"{args.shape} {flush_name:8s} {name:24s} {median:6.2f} us", flush=True)


if __name__ == "__main__":
    main()
