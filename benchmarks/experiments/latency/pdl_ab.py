"""Pack + merge per layer with the merge as the pack kernel's programmatic dependent (PDL) or not.

python benchmarks/experiments/latency/pdl_ab.py WORKLOAD ...   (needs `git apply pdl-merge.patch`)

Each workload: the default menu's plan (for a graph, so the merge always runs), both launch
modes alternated three times in CUDA graphs after an L2 flush; the best of each and the
largest difference between their outputs (PDL changes when the merge starts, not what it
computes).
"""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import sglang_pat.kernels.launch as launch  # noqa: E402
from graph_timing import graph_time_us  # noqa: E402
from providers import Batch, make_decoder  # noqa: E402
from workloads import tree_workload  # noqa: E402


def main() -> None:
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    for spec in sys.argv[1:]:
        batch = Batch(tree_workload(spec), 32, 8)
        decoder = make_decoder(batch, None)
        modes = (0, 1, 2)
        outs = {mode: torch.empty_like(batch.q) for mode in modes}
        times = {mode: [] for mode in modes}

        def run(out):
            decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)

        for _ in range(3):
            for mode in modes:
                launch.USE_PDL, launch.PDL_AT = mode > 0, mode
                times[mode].append(graph_time_us(lambda o=outs[mode]: run(o), flush))
        diff = max((outs[m].float() - outs[0].float()).abs().max().item() for m in modes)
        print(
            f"{spec:18s} pack+merge: plain {min(times[0]):6.1f} us, PDL at start"
            f" {min(times[1]):6.1f} us, at exit {min(times[2]):6.1f} (|diff| {diff:.1e});"
            f" partials {decoder.plan.num_partials}",
            flush=True,
        )


if __name__ == "__main__":
    main()
