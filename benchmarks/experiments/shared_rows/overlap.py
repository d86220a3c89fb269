"""Experiment: do the rows128 pair's two launches overlap in time? (kernel trace)

python benchmarks/experiments/shared_rows/overlap.py [SHAPE]   (default gsp 4 x 32, tails 256)

``run.py`` found the rows128 pair about as slow as its two parts in series. This captures each
menu's layer (``run.py``'s menus, the 8-warp launches capped as there) in a CUDA graph,
replays it five times under ``torch.profiler`` and prints, for the last replay, each pack and
merge kernel's start and end (µs from the first one's start): whether the shared part's and
the private part's kernels run at the same time. (Eager forwards cannot tell: the host
launches the second part about 140 µs after the first.)
"""

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # benchmarks/
sys.path.insert(0, str(HERE.parent / "pdl_after_rope"))
sys.path.insert(0, str(HERE))
from graph_timing import warm_up  # noqa: E402
from layer import menu_variants, storing, with_variants  # noqa: E402
from run import MENUS, _CappedLaunch, launch  # noqa: E402  (this folder's run.py)

KERNELS = ("_pack_decode_kernel", "_merge_states_kernel")


def trace(server, attention, out) -> list[tuple[str, float, float]]:
    """The last replay's pack and merge kernels: (name, start, end), µs."""
    layer = server.fn(attention, out)
    warm_up(layer)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        layer()
    graph.replay()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            graph.replay()
        torch.cuda.synchronize()
    events = [e for e in prof.events() if e.device_type.name == "CUDA" and e.name in KERNELS]
    events.sort(key=lambda e: e.time_range.start)
    last = events[-3:]  # private part, shared part, merge of the fifth forward
    t0 = last[0].time_range.start
    return [(e.name, e.time_range.start - t0, e.time_range.end - t0) for e in last]


def main() -> None:
    shape = sys.argv[1] if len(sys.argv) > 1 else "gsp:4x32:4096+256:b128:s0"
    launch._pack_decode_kernel = _CappedLaunch(launch._pack_decode_kernel)
    layer = with_variants(shape, menu_variants(MENUS))
    assert layer is not None, "the plan is kept whole"
    _, server, decoders = layer
    print(f"# {torch.cuda.get_device_name()}, {sys.argv}", flush=True)
    for name, decoder in decoders.items():
        out = torch.empty_like(server.batch.q)
        rows = trace(server, storing(decoder), out)
        text = "; ".join(f"{n} {start:6.1f} -> {end:6.1f}" for n, start, end in rows)
        print(f"{shape} {name}: {text}", flush=True)
    print(
        f"(warps, registers, shared memory) of the pack builds: {launch._pack_decode_kernel.builds}"
    )


if __name__ == "__main__":
    main()
