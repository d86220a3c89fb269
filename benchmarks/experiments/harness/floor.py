"""How much of a small shape's time in bench_kernels.py is the harness, not the kernel?

bench_kernels.py times each provider in a CUDA graph of 10 × (L2 flush + attention) and
subtracts a graph of 10 flushes. Its flush is ``zero_()`` of 512 MB, which leaves the L2 full
of dirty lines that the timed kernel's first reads must write back. This script times, in one
call, the same things under that write flush and under a read flush (a reduction over the
same 512 MB, which leaves the L2 full of clean lines):

- a one-element kernel (the floor any single-launch provider pays in this harness),
- a plain streaming read of the shape's unique bytes (torch ``sum``),
- pat (pack + merge, and the pack kernel alone) and FlashInfer decode on chosen shapes,

and then pat's kernels alone, without a graph, from CUPTI kernel durations (torch.profiler),
after a write flush. (FlashInfer's JIT kernels did not show up in the profiler's events on the
H200, so its CUPTI figure was dropped; results/floor.txt still shows the invalid one.)

    python benchmarks/experiments/harness/floor.py 1_3300 64_512 1,64_4096,512 ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from graph_timing import copy_bandwidth_bytes_per_us, graph_time_us  # noqa: E402
from providers import Batch, make_decoder, run_flashinfer_decode  # noqa: E402
from workloads import tree_workload  # noqa: E402

FLUSH_BYTES = 512 * 2**20


def kernel_us(fn, flush_fn, reps: int = 20) -> float:
    """Mean over reps of fn's kernels' summed CUPTI durations (eager, each rep after a
    write flush): the kernels alone, without launch gaps."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        flush_fn()
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            flush_fn()
            fn()
        torch.cuda.synchronize()
    kernels = [
        e
        for e in prof.events()
        if e.device_type.name == "CUDA"
        and "fill" not in e.name.lower()
        and "memset" not in e.name.lower()
        and "memcpy" not in e.name.lower()
    ]
    return sum(e.time_range.elapsed_us() for e in kernels) / reps


def main() -> None:
    specs = sys.argv[1:] or ["1_3300", "64_512", "1,64_4096,512"]
    torch.manual_seed(0)
    flush_buf = torch.empty(FLUSH_BYTES // 2, dtype=torch.bfloat16, device="cuda").normal_()
    flush_sum = torch.empty((), dtype=torch.float32, device="cuda")
    flushes = {
        "write": lambda: flush_buf.view(torch.uint8).zero_(),
        "read": lambda: torch.sum(flush_buf, 0, dtype=torch.float32, out=flush_sum),
    }
    tiny = torch.zeros(1, device="cuda")
    bw = copy_bandwidth_bytes_per_us()
    print(f"copy bandwidth {bw / 1e6:.2f} TB/s")
    print(f"{'what':44s} {'write-flush':>12s} {'read-flush':>12s}")

    def row(label, fn):
        times = {}
        for name in ("read", "write"):
            if name == "read":  # the write flush zeroes the buffer: read random data
                flush_buf.normal_()
            times[name] = graph_time_us(fn, flushes[name])
        print(f"{label:44s} {times['write']:12.2f} {times['read']:12.2f}", flush=True)

    row("one-element kernel", lambda: tiny.add_(1))
    for spec in specs:
        batch = Batch(tree_workload(spec), 32, 8)
        bound = batch.unique_bytes / bw
        src = torch.empty(batch.unique_bytes // 2, dtype=torch.bfloat16, device="cuda").normal_()
        dst = torch.empty((), dtype=torch.float32, device="cuda")
        print(f"-- {spec}: unique {batch.unique_bytes / 1e6:.1f} MB, bound {bound:.2f} us")
        stream_read = lambda: torch.sum(src, 0, dtype=torch.float32, out=dst)
        row("  torch.sum over the unique bytes", stream_read)
        decoder = make_decoder(batch, None)
        out = torch.empty_like(batch.q)
        pat = lambda: decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
        row("  pat (pack + merge)", pat)
        write = flushes["write"]
        cupti = {"pat": kernel_us(pat, write)}
        decoder.merge_needed = False
        row("  pat pack kernel alone", pat)
        cupti["pat pack"] = kernel_us(pat, write)
        decoder.merge_needed = True
        _, fi = run_flashinfer_decode(batch)
        row("  flashinfer decode", fi)
        print(
            "  CUPTI kernel time after a write flush (eager): "
            + ", ".join(f"{k} {v:.2f}" for k, v in cupti.items()),
            flush=True,
        )
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
