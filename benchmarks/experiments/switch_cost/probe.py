"""Experiment: where the graph switch's ~11 µs a call comes from (session 78).

python benchmarks/experiments/switch_cost/probe.py SHAPE [--rounds 3]   (SHAPE: providers.batch_for)

Session 77's ``counts`` form (both forms captured and enabled, the unwanted one given no items)
cost a split plan as much as the disabled node of ``switched``: about 11 µs a call more than
the pair's plain graph. So the cost is not the toggle, nor the empty node as such. This times
one split plan's layer in plain CUDA graphs after the flush (``graph_time_us``), the pair
followed or accompanied by one more launch that does no work:
- ``pair``: the decoder's planned forward alone;
- ``tiny after join``: a one-element add between the pair's join and the merge;
- ``all0 / shared0 / private0 after join``: a launch of that build of the pack kernel on its
  own grid, every program finding no work (``launch_cost.pack_launch``), between the join and
  the merge (``all0`` is session 77's ``counts``);
- ``all0 after merge`` / ``all0 before fork``: the same after the merge / before the pair;
- ``all0 beside`` / ``tiny beside``: on a third stream, forked before the pair and joined
  after the merge, off the pair's chain.
Alone in a graph each of these launches costs 1.0-1.6 µs (``launch_cost.py``). The first
run (session 78, ``results/session78-probe1-h200.txt``) also timed ``all0 after join`` with
the all-items build asking for the largest shared-memory carveout, as the pair's parts do: no
change.
"""

import argparse
import contextlib
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).parent))  # its sibling launch_cost.py (also under -P)
from graph_timing import graph_time_us, items_text  # noqa: E402
from launch_cost import in_order, pack_launch  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402

from sglang_pat import decoder as decoder_module  # noqa: E402


@contextlib.contextmanager
def before_merge(launch):
    """While active, the decoder's merge is preceded on its stream by ``launch()``."""
    merge = decoder_module.merge_states

    def merge_after(*args, **kwargs):
        launch()
        return merge(*args, **kwargs)

    decoder_module.merge_states = merge_after
    try:
        yield
    finally:
        decoder_module.merge_states = merge


def beside(forward, launch):
    """``forward`` with ``launch()`` on a stream of its own, forked before, joined after."""
    side = torch.cuda.Stream()
    fork, join = torch.cuda.Event(), torch.cuda.Event()

    def run():
        main = torch.cuda.current_stream()
        fork.record(main)
        side.wait_event(fork)
        with torch.cuda.stream(side):
            launch()
        join.record(side)
        forward()
        main.wait_event(join)

    return run


def run_shape(shape: str, rounds: int) -> None:
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    batch = batch_for(shape)
    decoder = make_decoder(batch)
    if not decoder.splits:
        print(f"{shape}: kept whole; this probe is for split plans")
        return
    out, ref = torch.empty_like(batch.q), torch.empty_like(batch.q)
    tiny = torch.zeros(1, device="cuda")

    def forward(o=out):
        return decoder.forward(batch.q, batch.k, batch.v, o, sm_scale=batch.sm_scale)

    def tiny_add():
        tiny.add_(1)

    empty = {part: pack_launch(decoder, batch, part) for part in ("all", "shared", "private")}
    forward(ref)
    torch.cuda.synchronize()

    def after_join(launch):
        def run():
            with before_merge(launch):
                forward()

        return run

    forms = {
        "pair": forward,
        "tiny after join": after_join(tiny_add),
        "all0 after join": after_join(empty["all"]),
        "shared0 after join": after_join(empty["shared"]),
        "private0 after join": after_join(empty["private"]),
        "all0 after merge": in_order([forward, empty["all"]]),
        "all0 before fork": in_order([empty["all"], forward]),
        "all0 beside": beside(forward, empty["all"]),
        "tiny beside": beside(forward, tiny_add),
    }
    times: dict[str, list[float]] = {name: [] for name in forms}
    worst = 0.0
    for _ in range(rounds):
        for name, fn in forms.items():
            times[name].append(graph_time_us(fn, flush))
            worst = max(worst, (out.float() - ref.float()).abs().max().item())
    medians = ", ".join(f"{name} {statistics.median(us):6.1f}" for name, us in times.items())
    print(
        f"{shape} ({items_text(decoder.plan)}): {medians} us; max |out - pair's| {worst:.1e}",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"# {torch.cuda.get_device_name()}, {sys.argv}", flush=True)
    run_shape(args.shape, args.rounds)
