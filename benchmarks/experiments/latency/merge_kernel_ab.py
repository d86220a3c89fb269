"""The merge kernel against an older one (a module beside this file), side by side.

python benchmarks/experiments/latency/merge_kernel_ab.py MODULE[,MODULE...] SPEC ...
Times per layer (CUDA graph, L2 flushed): the pack kernel alone, with the current merge
kernel, and with each MODULE's ``_merge_states_kernel`` (launched with 8 heads a program);
prints each merge's share and the max difference of its output from the current merge's.
"""

import importlib
import sys
from pathlib import Path

import torch
import triton

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))
from graph_timing import graph_time_us  # noqa: E402
from providers import Batch, make_decoder  # noqa: E402
from workloads import tree_workload  # noqa: E402


def old_merge(kernel, o, partial_o, partial_lse, indptr) -> None:
    block_h = min(8, triton.next_power_of_2(o.shape[1]))
    kernel[(o.shape[0], triton.cdiv(o.shape[1], block_h))](
        o, partial_o, partial_lse, indptr, o.stride(0), o.stride(1), partial_o.stride(0),
        partial_o.stride(1), partial_lse.stride(0), NUM_HEADS=o.shape[1], BLOCK_H=block_h,
        V_DIM=o.shape[2], BLOCK_DV=triton.next_power_of_2(o.shape[2]),
    )  # fmt: skip


def main() -> None:
    variants = {
        name: importlib.import_module(name)._merge_states_kernel for name in sys.argv[1].split(",")
    }
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    for spec in sys.argv[2:]:
        batch = Batch(tree_workload(spec), 32, 8)
        dec = make_decoder(batch, None)  # the default menu, planned for a graph

        def pack(out, merge):
            dec.merge_needed = merge
            dec.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)

        def variant(kernel):
            def run(out):
                pack(out, False)
                old_merge(kernel, out, dec.partial_o, dec.partial_lse, dec.req_partial_indptr)

            return run

        runs = {"pack": lambda out: pack(out, False), "now": lambda out: pack(out, True)}
        runs |= {name: variant(kernel) for name, kernel in variants.items()}
        outs = {name: torch.empty_like(batch.q) for name in runs}
        times = {name: [] for name in runs}
        for _ in range(3):
            for name, fn in runs.items():
                times[name].append(graph_time_us(lambda f=fn, o=outs[name]: f(o), flush))
        best = {name: min(t) for name, t in times.items()}
        text = f"{spec:22s} pack {best['pack']:6.1f} us; merge:"
        for name in runs:
            if name != "pack":
                diff = (outs[name].float() - outs["now"].float()).abs().max().item()
                text += f" {name} {best[name] - best['pack']:4.1f} (|diff| {diff:.4f})"
        print(text + f"; partials {dec.plan.num_partials}", flush=True)


if __name__ == "__main__":
    main()
