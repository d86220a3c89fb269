"""Experiment (session 24; first run in session 25): does disabling the private launch's
graph nodes remove what a kept-whole plan pays under CUDA graphs?

    python benchmarks/experiments/kept_whole/node_toggle.py SHAPE[@Q,KV] ... [--rounds 3]

A graph-planned step with the lean kernel captures the pair: the private-part launch forked
on the decoder's side stream, then the shared-part build. When the gate keeps a plan whole the
private launch has no items, yet it costs 0.6–2.3% on gsp defaults' batches (session 24,
README.md here). ``cuGraphNodeSetEnabled`` turns a kernel node of an instantiated graph into
an empty node until it is enabled again; the decoder could do that per step, between its plan
and the replay, for the 32 private-launch nodes of the graph about to replay.

Per shape, in a process of its own, after an L2 flush, pack and merge, ``reps`` calls a graph:
- ``one-launch``: the lean kernel off (``graph_timing.graph_time_us``);
- ``pair``: the lean decoder as a graph runs it today, in a graph kept (``keep_graph=True``)
  so that its nodes can be toggled;
- ``pair, private off``: the same instantiated graph with every private-launch node disabled
  (only for plans kept whole: a split plan needs its private launch);
- ``pair, on again``: enabled again, which must give ``pair``'s time back;
- ``switched`` (session 25): the product's ``sglang_pat/graph_switch.py``. Another decoder,
  planned alike, captured with both forms of each call (the pair, then the all-items launch)
  and the form its plan wants enabled: a kept-whole plan runs the all-items build alone.
  For a split plan (session 26) also ``switched, whole form`` (the other form),
  ``switched, pair again`` and ``switched, both forms`` (the all-items nodes enabled too), and
  the row gives the nodes' enabled states as read back. And ``pair, kept baseline`` and
  ``switched, plain baseline``: each graph against the other's flush-only graph.

A private launch's node is read at capture: right after the launch, the side stream's one
capture dependency is the node just added (``cuStreamGetCaptureInfo``). The row also gives
the host µs per ``cuGraphNodeSetEnabled`` call and each variant's max |difference| from the
one launch's output.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def set_enabled(graph, nodes: list[int], enabled: bool) -> float:
    """Enable or disable ``nodes`` in the instantiated ``graph``; host µs per call."""
    from sglang_pat.graph_switch import set_node_enabled

    graph_exec = graph.raw_cuda_graph_exec()
    start = time.perf_counter()
    for node in nodes:
        set_node_enabled(graph_exec, node, enabled)
    return (time.perf_counter() - start) * 1e6 / max(1, len(nodes))


def enabled_states(switch) -> dict[str, list[bool]]:
    """Each form's nodes as enabled in the switch's exec (``cuGraphNodeGetEnabled``)."""
    from sglang_pat.graph_switch import node_enabled

    return {
        name: sorted(
            {node_enabled(switch.graph_exec, getattr(layer, name)) for layer in switch.layers}
        )
        for name in ("private", "shared", "whole")
    }


def switched_graphs(decoder, batch, out, flush, reps: int):
    """``decoder`` made switchable and captured as SGLang's ``capture_one`` is patched to:
    ``timed_graphs``' pair with both forms of each call, and the graph's switch set to the
    form ``decoder``'s plan wants."""
    from graph_timing import timed_graphs, warm_up

    from sglang_pat import graph_switch

    graph_switch.make_switchable(decoder)

    def run() -> None:
        decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)

    captured: list = []

    def capture() -> None:  # warmed up inside, as SGLang's capture_one: the all-items build
        warm_up(run)  # is launched (compiled) there too
        captured.extend(timed_graphs(run, flush, reps))

    graph_switch.switchable_capture(capture, lambda: captured[0])
    ((switch,),) = decoder.graph_switches.by_batch.values()
    assert len(switch.layers) == reps, f"{len(switch.layers)} switched layers for {reps} calls"
    switch.select(decoder.splits)
    return (captured[0], captured[1]), switch


def one(shape: str, rounds: int, reps: int = 10, trials: int = 7) -> dict:
    import numpy as np
    import torch
    from graph_timing import graph_time_us, graphs_us, timed_graphs, warm_up
    from providers import HEAD_DIM, batch_for, make_decoder

    import sglang_pat.decoder as decoder_module
    from sglang_pat import graph_switch
    from sglang_pat.cost_model import default_tile_menu

    private_nodes: list[int] = []
    stock_pack_decode = decoder_module.pack_decode

    def recording_pack_decode(*args, part: str = "all", **kwargs):
        compiled = stock_pack_decode(*args, part=part, **kwargs)
        if part == "private" and torch.cuda.is_current_stream_capturing():
            private_nodes.append(graph_switch.last_captured_node(torch.cuda.current_stream()))
        return compiled

    decoder_module.pack_decode = recording_pack_decode

    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    lean = make_decoder(batch)  # the default menu: the gated lean kernel, planned for a graph
    assert lean.menu.lean is not None and lean.lean_needed, "the graph must hold the pair"
    one_launch = make_decoder(batch, default_tile_menu(HEAD_DIM, group, lean=False))
    header = lean.header.cpu().tolist()
    kept_whole = header[2] == 0
    out_one, out_lean = torch.empty_like(batch.q), torch.empty_like(batch.q)

    def run_one() -> None:
        one_launch.forward(batch.q, batch.k, batch.v, out_one, sm_scale=batch.sm_scale)

    def run_lean() -> None:
        lean.forward(batch.q, batch.k, batch.v, out_lean, sm_scale=batch.sm_scale)

    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    warm_up(run_lean)
    pair = timed_graphs(run_lean, flush, reps, keep_graph=True)
    assert len(private_nodes) == reps, f"{len(private_nodes)} private nodes for {reps} calls"
    decoder_module.pack_decode = stock_pack_decode

    # The product's switch (session 25, sglang_pat/graph_switch.py): both forms captured, the
    # one the plan wants enabled.
    switched_decoder = make_decoder(batch)
    out_switched = torch.empty_like(batch.q)
    captured, switch = switched_graphs(switched_decoder, batch, out_switched, flush, reps)

    def pair_us() -> float:
        return graphs_us(pair, reps, trials)

    def switched_us() -> float:
        return graphs_us(captured, reps, trials)

    # Session 26: the switched graph took 1-6 µs more than the best form. Its flush-only
    # baseline graph was made kept (``kept_graphs``), the pair's not: each timed against the
    # other's baseline tells whether the baseline moved.
    times: dict[str, list[float]] = {"one-launch": [], "pair": [], "switched": []}
    times["pair, kept baseline"], times["switched, plain baseline"] = [], []
    diffs: dict[str, float] = {}
    toggle_us: list[float] = []
    if kept_whole:
        times["pair, private off"], times["pair, on again"] = [], []
    else:
        for name in ("switched, whole form", "switched, pair again", "switched, both forms"):
            times[name] = []
    states = enabled_states(switch)
    for _ in range(rounds):
        times["one-launch"].append(graph_time_us(run_one, flush, reps, trials))
        times["pair"].append(pair_us())
        times["switched"].append(switched_us())
        times["pair, kept baseline"].append(graphs_us((pair[0], captured[1]), reps, trials))
        times["switched, plain baseline"].append(graphs_us((captured[0], pair[1]), reps, trials))
        if not kept_whole:  # session 26: switched split plans took 82 µs against the pair's 75
            switch.select(False)
            times["switched, whole form"].append(switched_us())
            switch.select(True)
            times["switched, pair again"].append(switched_us())
            set_enabled(captured[0], [layer.whole for layer in switch.layers], True)
            times["switched, both forms"].append(switched_us())
            set_enabled(captured[0], [layer.whole for layer in switch.layers], False)
        else:
            toggle_us.append(set_enabled(pair[0], private_nodes, False))
            out_lean.fill_(float("nan"))
            times["pair, private off"].append(pair_us())
            diffs["pair, private off"] = float((out_lean.float() - out_one.float()).abs().max())
            toggle_us.append(set_enabled(pair[0], private_nodes, True))
            times["pair, on again"].append(pair_us())
    diffs["pair"] = float((out_lean.float() - out_one.float()).abs().max())
    diffs["switched"] = float((out_switched.float() - out_one.float()).abs().max())
    return dict(
        shape=shape,
        header=header,
        kept_whole=kept_whole,
        us={name: float(np.median(t)) for name, t in times.items()},
        rounds={name: [round(x, 2) for x in t] for name, t in times.items()},
        toggle_host_us_per_node=float(np.median(toggle_us)) if toggle_us else None,
        splits=bool(switched_decoder.splits),
        switched_states=states,
        max_abs_diff_vs_one_launch=diffs,
    )


def main() -> None:
    from graph_timing import run_shape_experiment

    run_shape_experiment(__file__, __doc__, one)


if __name__ == "__main__":
    main()
