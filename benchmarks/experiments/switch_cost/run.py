"""Experiment: what the graph switch's second form costs a call in the kernel benchmark's
graphs (session 77).

python benchmarks/experiments/switch_cost/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

Since session 77 ``graph_timing.timed_graphs`` captures a switchable decoder as the server
does: the pair and, after its join, the all-items launch, one form enabled. The kernel
benchmark's pat then read 8-13 µs more a call on split plans than the pair-only graph of
session 73. This times one decoder's planned forward in these ways, in CUDA graphs after the flush
(``graph_timing.graph_time_us``, medians of ``--rounds`` alternations):
- ``pair``: a plain graph (no switchable decoder alive);
- ``pair, kept``: the same decoder while a switchable one is alive, so its graph is kept
  (``keep_graph``) and captured inside ``switchable_capture``, no node of it recorded;
- ``switched``: a switchable copy of the decoder, both forms captured, its plan's enabled;
- ``counts`` (added after the session 77 run; timed in session 78, no cheaper): both forms
  captured and both enabled, the one the plan does not want given no items by its header's
  count (0), in place of a disabled node. A server could select so in the header it uploads
  each step anyway, with no node toggled and no empty node in the pair's chain; it pays a
  launch with no work.
"""

import argparse
import contextlib
import gc
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import decoder_fns, graph_time_us, items_text  # noqa: E402
from providers import batch_for, make_decoder, pat_decoder  # noqa: E402

from sglang_pat import decoder as decoder_module  # noqa: E402
from sglang_pat.graph_switch import any_switchable  # noqa: E402

SHAPES = ["1,4,256_32,256,32@16,8", "1,256_2048,32", "1,64_4096,512", "64_4096"]


@contextlib.contextmanager
def both_forms(decoder):
    """While active, ``decoder`` launches both forms of its layer, as in a switchable capture
    but with no switch bound; the form its plan does not want gets no items."""
    own = decoder_module.recorder
    decoder_module.recorder = lambda d: [] if d is decoder else own(d)
    unwanted = decoder.header_all if decoder.splits else decoder.header  # [0]: its item count
    wanted_count = unwanted[0].item()
    unwanted[0].zero_()
    try:
        yield
    finally:
        decoder_module.recorder = own
        unwanted[0].fill_(wanted_count)


def run_shape(shape: str, flush, rounds: int) -> None:
    gc.collect()  # the last shape's switchable decoder
    if any_switchable():
        print(f"{shape}: a switchable decoder is still alive; 'pair' is a kept graph too")
    batch = batch_for(shape)
    plain, counted = make_decoder(batch), make_decoder(batch)
    fns, outs = decoder_fns(batch, {"pair": plain, "counts": counted})
    times = {"pair": [], "pair, kept": [], "switched": [], "counts": []}
    with both_forms(counted):
        for name in ("pair", "counts"):
            fns[name]()
        torch.cuda.synchronize()
        difference = (outs["counts"].float() - outs["pair"].float()).abs().max().item()
        for _ in range(rounds):
            times["pair"].append(graph_time_us(fns["pair"], flush))
            times["counts"].append(graph_time_us(fns["counts"], flush))
    pair = fns["pair"]
    switched = pat_decoder(batch, switchable=True)
    (switched_fn,) = decoder_fns(batch, {"switched": switched})[0].values()
    for _ in range(rounds):
        times["pair, kept"].append(graph_time_us(pair, flush))
        times["switched"].append(graph_time_us(switched_fn, flush))
    medians = ", ".join(f"{name} {statistics.median(us):6.1f}" for name, us in times.items())
    form = "split" if plain.splits else "kept whole"
    print(
        f"{shape} ({form}, {items_text(plain.plan)}): {medians} us; "
        f"counts against pair max |difference| {difference:.1e}",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*", default=SHAPES)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    print(f"# {torch.cuda.get_device_name()}, {sys.argv}", flush=True)
    for shape in args.shapes:
        run_shape(shape, flush, args.rounds)
