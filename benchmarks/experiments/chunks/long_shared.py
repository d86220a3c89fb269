"""Experiment: gsp 4 x 32's shared packs in 4,096-token chunks (64 shared units), not 2,048 (128).

python benchmarks/experiments/chunks/long_shared.py [SHAPE ...] [--chunks 4096,1024]

The planner cuts gsp 4 x 32's four 4,096-token prefixes into 2,048-token chunks of 64-row
tiles: 16 shared items, 128 units on the 132 SMs (the cap of one shared unit an SM, ``Session
34`` in README.md), three partial slots a request. At the serving run's middle and late tails
the lean pair's private part ends last (``../head_rows/``), so the shared part could take
longer units on half the SMs: fewer partials to write and merge (two a request), and 68 SMs
for the private units alone. Per shape, each variant's plan is the planner's with the shared
classes' chunk forced (private-only classes keep the planner's choice), planned for a graph
(the gate decides the split, as in the server); pack + merge timed side by side in CUDA graphs
after the benchmarks' flush (``graph_timing.decoders_side_by_side``, 3 rounds); outputs
against the stock plan's.
"""

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import decoders_side_by_side, run_shapes  # noqa: E402
from providers import HEAD_DIM, batch_for, make_decoder  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402

SHAPES = [f"gsp:4x32:4096+{tail}:b128:s0" for tail in (208, 256, 300, 368)]


def forced_decoder(batch, chunk: int | None):
    """A decoder for ``batch`` whose shared chunk classes take ``chunk`` where it is a
    candidate (None: the planner's choice), planned for a graph."""
    group = batch.q.shape[1] // batch.k.shape[1]
    decoder = make_decoder(batch, default_tile_menu(HEAD_DIM, group), plan=False)
    rule = decoder.scheduler._rule
    if chunk is not None:  # every shared class (a ValueError where it is not a candidate)
        rule.forced[:, 0] = chunk
    decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
    return decoder


def run_shape(shape: str, flush, chunks: list[int]) -> None:
    batch = batch_for(shape)
    decoders = {"stock": forced_decoder(batch, None)}
    for chunk in chunks:
        decoders[f"shared {chunk}"] = forced_decoder(batch, chunk)
    for name, decoder in decoders.items():
        plan = decoder.plan
        shared = plan.items[: plan.num_shared_items]
        lengths = sorted(set(shared[:, 1].tolist()))
        print(
            f"  {name}: {plan.num_shared_items} shared items (chunks {lengths}), "
            f"{plan.items.shape[0]} items, {plan.num_partials} partials, "
            f"split {decoder.lean_needed}",
            flush=True,
        )
    times, outs = decoders_side_by_side(batch, decoders, flush, rounds=3)
    ref = outs["stock"].float()
    line = []
    for name, us in times.items():
        diff = (outs[name].float() - ref).abs().max().item()
        rounds = " ".join(f"{t:.1f}" for t in us)
        line.append(f"{name} {statistics.median(us):6.1f} us ({rounds}; max|diff| {diff:.1e})")
    print(f"{shape}: " + "; ".join(line), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*")
    parser.add_argument("--chunks", default="4096,1024")
    args = parser.parse_args()
    chunks = [int(c) for c in args.chunks.split(",")]
    run_shapes(lambda shape, flush: run_shape(shape, flush, chunks), args.shapes or SHAPES)
