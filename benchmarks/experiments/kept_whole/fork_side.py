"""Experiment (session 61): which part of the lean pair to fork on the side stream.

    git apply benchmarks/experiments/kept_whole/fork-side.patch
    python benchmarks/experiments/kept_whole/fork_side.py SHAPE ... [--rounds 3]
    git apply -R benchmarks/experiments/kept_whole/fork-side.patch

(``FORKSIDE=1`` in ``../detached/chains.sh`` does the three, then the graph GPU tests.)

Session 61's ``node_toggle.py`` at 1468232 (``results/node_toggle-session61.jsonl``): on gsp
4 × 32's split plans the switchable graph took 5.4-6.7 µs more a call than the pair alone
(tails 144-256), nothing at tails 368, where the private part is the longer. Session 19
(README.md) found a split plan up to 10% slower when its shared part reaches the SMs first.
So the graph with the all-items node after the join may launch the shared part first. This
times, in graphs of ten calls after the L2 flush (``graph_timing``), the pair and the
switchable graph (pair form) with the private part forked on the side stream (the product)
and with the shared part forked instead (``PatDecoder.private_on_side = False``, which
the patch adds).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))


def one(shape: str, rounds: int, reps: int = 10, trials: int = 7) -> dict:
    import numpy as np
    import torch
    from graph_timing import graphs_us, timed_graphs, warm_up
    from node_toggle import switched_graphs
    from providers import batch_for, make_decoder

    batch = batch_for(shape)
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    graphs, outputs = {}, {}
    decoders = []  # alive while their graphs replay: a graph holds no reference to its buffers
    for private_on_side in (True, False):
        side = "private forked" if private_on_side else "shared forked"
        pair = make_decoder(batch)
        assert pair.lean_needed, "the graph must hold the pair"
        if not hasattr(pair, "private_on_side"):
            raise SystemExit("fork_side.py: apply fork-side.patch first (see the docstring)")
        pair.private_on_side = private_on_side
        out_pair = torch.empty_like(batch.q)

        def run_pair(decoder=pair, out=out_pair) -> None:
            decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)

        warm_up(run_pair)
        graphs[f"pair, {side}"] = timed_graphs(run_pair, flush, reps)
        outputs[f"pair, {side}"] = out_pair
        switched = make_decoder(batch)
        decoders += [pair, switched]
        switched.private_on_side = private_on_side
        out_switched = torch.empty_like(batch.q)
        graphs[f"switched, {side}"], _ = switched_graphs(switched, batch, out_switched, flush, reps)
        outputs[f"switched, {side}"] = out_switched
    times: dict[str, list[float]] = {name: [] for name in graphs}
    for _ in range(rounds):
        for name, pair_of_graphs in graphs.items():
            times[name].append(graphs_us(pair_of_graphs, reps, trials))
    first = outputs["pair, private forked"].float()
    return dict(
        shape=shape,
        us={name: round(float(np.median(t)), 2) for name, t in times.items()},
        rounds={name: [round(x, 2) for x in t] for name, t in times.items()},
        max_abs_diff={name: float((o.float() - first).abs().max()) for name, o in outputs.items()},
    )


def main() -> None:
    from graph_timing import run_shape_experiment

    run_shape_experiment(__file__, __doc__, one)


if __name__ == "__main__":
    main()
