"""The per-step switch between the two forms of each PAT layer, a graph each
(``graph_switch.py``), on the CPU with stand-ins for SGLang's capture and graphs; the GPU test
replays real ones (``test_kernels_gpu.py``)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from helpers import decoder_for, make_batch, tile_menu

from sglang_pat import graph_switch
from sglang_pat.forest import PrefixForest


class RecordingSwitch:
    alive = True
    changes = 0

    def __init__(self) -> None:
        self.selected: list[bool] = []

    def select(self, splits: bool) -> None:
        self.selected.append(splits)


def test_plan_step_selects_the_form_of_the_graph_about_to_replay() -> None:
    """A graph's switch is bound in the form of the plan it was captured with; then each
    graph-planned step selects its plan's form in the switch of its graph batch size (the one
    SGLang replays next); eager steps and other sizes' graphs are left alone."""
    shared = PrefixForest.from_tree_spec("1,8_256,16")  # shared and private items: splits
    private = PrefixForest.from_tree_spec("8_40")  # no shared items: kept whole
    kv = make_batch(shared, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    menu = tile_menu(64, 4, "always")
    decoder = decoder_for(kv, max_requests=16, max_kv_indices=512, menu=menu)
    rows = np.arange(1, 9)
    decoder.plan_step(shared, rows, kv.req_to_token, for_graph=True, graph_batch=16)
    size_16, size_8 = RecordingSwitch(), RecordingSwitch()
    variant_16 = RecordingSwitch()  # a second graph of the same size (a LoRA variant)
    decoder.bind_graph(size_16)  # the capture of the last graph-planned size
    decoder.bind_graph(variant_16)
    decoder.graph_switches.add(8, size_8)
    for forest in (shared, private, shared):
        decoder.plan_step(forest, rows, kv.req_to_token, for_graph=True, graph_batch=16)
    decoder.plan_step(private, rows, kv.req_to_token)  # eager
    # bound in the captured plan's form (it splits), then each graph-planned step's
    assert size_16.selected == variant_16.selected == [True, True, False, True]
    assert size_8.selected == []
    assert decoder.graph_switches.counts() == (3, 0)  # the stand-ins count no changes


class FormDecoder:
    """A per-form decoder as ``form_capture`` sees it: the form it is asked to capture, what
    its layers launched (``forward``: the pair where its plan has it and the form allows),
    and the ``FormGraphs`` it is given."""

    def __init__(self, lean_needed: bool, splits: bool) -> None:
        self.lean_needed, self.splits = lean_needed, splits
        self.capture_form: bool | None = None
        self.captured_pair = False
        self.bound: list[graph_switch.FormGraphs] = []

    def forward(self) -> None:  # PatDecoder.forward's bookkeeping
        if self.capture_form is not None:
            self.captured_pair |= self.lean_needed and self.capture_form is not False

    def bind_graph(self, graphs: graph_switch.FormGraphs) -> None:  # as PatDecoder's
        self.bound.append(graphs)
        graphs.select(self.splits)


def sglang_capture(graphs: dict, outputs: dict, key: int, decoders: list[FormDecoder]):
    """SGLang's capture_one as far as ``form_capture`` relies on it: a new graph and output
    stored under ``key``; it notes the form each decoder was in."""
    forms: list[tuple] = []

    def capture() -> str:
        forms.append(tuple(d.capture_form for d in decoders))
        for decoder in decoders:
            decoder.forward()
        graphs[key], outputs[key] = object(), object()
        return "captured"

    return capture, forms


def test_form_capture_captures_each_form_and_selects_the_plans() -> None:
    """A decoder whose capture plan has the pair gets two graphs of the shape, the pair's and
    the all-items launch's; the backend's dicts then hold the plan's, and ``select`` swaps the
    graph and its output together."""
    gc.collect()
    decoder = FormDecoder(lean_needed=True, splits=True)
    graph_switch.make_per_form(decoder)
    graphs, outputs = {8: "older shape"}, {8: "its output"}
    capture, forms = sglang_capture(graphs, outputs, 16, [decoder])
    assert graph_switch.form_capture(capture, lambda: (graphs, outputs), 16) == "captured"
    assert forms == [(True,), (False,)] and decoder.capture_form is None
    (bound,) = decoder.bound
    pair, whole = bound._forms[True], bound._forms[False]
    assert pair[0] is not whole[0] and pair[1] is not whole[1]
    assert (graphs[16], outputs[16]) == pair and bound.splits is True and bound.alive
    bound.select(np.False_)
    assert (graphs[16], outputs[16]) == whole and bound.changes == 2
    bound.select(False)
    assert bound.changes == 2  # no change, no store
    assert graphs[8] == "older shape" and outputs[8] == "its output"
    graphs.clear()  # SGLang's cleanup: the switch goes dead and stores nothing
    bound.select(True)
    assert not bound.alive and graphs == {}


def test_form_capture_of_a_graph_without_the_pair_captures_once() -> None:
    """A graph below ``LeanKernel.min_graph_batch`` has one form: one capture, no switch; and
    without a per-form decoder the capture runs untouched."""
    gc.collect()
    graphs: dict = {}
    outputs: dict = {}
    capture, forms = sglang_capture(graphs, outputs, 4, [])
    assert graph_switch.form_capture(capture, lambda: (graphs, outputs), 4) == "captured"
    assert len(forms) == 1
    small = FormDecoder(lean_needed=False, splits=False)
    graph_switch.make_per_form(small)
    capture, forms = sglang_capture(graphs, outputs, 4, [small])
    assert graph_switch.form_capture(capture, lambda: (graphs, outputs), 4) == "captured"
    assert forms == [(True,)] and small.bound == [] and small.capture_form is None


def test_form_capture_of_a_graph_without_pat_layers_captures_once() -> None:
    """SGLang's prefill graphs go through the same capture but run no PAT layer: captured
    once, whatever the decoder's last plan, and no switch bound."""
    gc.collect()
    decoder = FormDecoder(lean_needed=True, splits=True)
    graph_switch.make_per_form(decoder)
    graphs: dict = {}
    outputs: dict = {}
    capture, forms = sglang_capture(graphs, outputs, 8192, [])  # no layer calls the decoder
    assert graph_switch.form_capture(capture, lambda: (graphs, outputs), 8192) == "captured"
    assert len(forms) == 1 and decoder.bound == [] and decoder.capture_form is None


def test_a_failed_form_capture_leaves_the_decoder_as_planned() -> None:
    gc.collect()
    decoder = FormDecoder(lean_needed=True, splits=True)
    graph_switch.make_per_form(decoder)

    def capture() -> None:
        raise RuntimeError("capture failed")

    with pytest.raises(RuntimeError, match="capture failed"):
        graph_switch.form_capture(capture, lambda: ({}, {}), 16)
    assert decoder.capture_form is None and decoder.bound == []


def test_decoder_captures_the_form_it_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """``PatDecoder.capture_form``: False launches the all-items build where the plan has the
    pair, True or None the pair, and a form capture notes whether the pair ran; either way
    the output is the pair's."""
    from sglang_pat import decoder as decoder_module

    forest = PrefixForest.from_tree_spec("1,8_256,16")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(kv, max_requests=16, max_kv_indices=512, menu=tile_menu(64, 4, "always"))
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True, graph_batch=16)
    assert decoder.lean_needed
    parts: list[str] = []
    launch = decoder_module.pack_decode

    def recorded(*args, part: str, **kwargs):
        parts.append(part)
        return launch(*args, part=part, **kwargs)

    monkeypatch.setattr(decoder_module, "pack_decode", recorded)
    q = torch.zeros(16, 4, 64, dtype=torch.float16)
    q[: forest.num_requests] = kv.q
    outputs, paired = [], []
    for form in (None, False, True):
        decoder.capture_form, decoder.captured_pair = form, False
        out = torch.zeros_like(q)
        decoder.forward(q, kv.k_buffer, kv.v_buffer, out, sm_scale=64**-0.5)
        outputs.append(out[: forest.num_requests])
        paired.append(decoder.captured_pair)
    assert parts == ["private", "shared", "all", "private", "shared"]
    assert paired == [False, False, True]  # noted only in a form capture
    torch.testing.assert_close(outputs[1], outputs[0], atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(outputs[2], outputs[0], atol=0, rtol=0)


def test_binding_drops_every_dead_switch() -> None:
    """A new graph's switch drops the dead ones of every batch size (SGLang cleared or
    re-captured their graphs): a FormGraphs would otherwise hold its two graphs."""
    switches = graph_switch.GraphSwitches()
    graphs: dict = {8: "graph"}
    outputs: dict = {8: "output"}
    old = graph_switch.FormGraphs(graphs, outputs, 8, ("graph", "o"), ("other", "o"))
    switches.add(8, old)
    assert switches.counts() == (1, 0)
    graphs.clear()  # SGLang's cleanup
    fresh = RecordingSwitch()
    switches.add(16, fresh)
    assert switches.by_batch == {16: [fresh]}


def test_form_graphs_read_the_form_in_place_from_the_backend() -> None:
    """``FormGraphs.splits`` is the form whose graph the backend's dict holds, not a copy of
    the last ``select``: a graph put back behind the switch's back is seen, and selecting the
    form already in place stores nothing."""
    pair, whole = (object(), "pair out"), (object(), "whole out")
    graphs, outputs = {16: whole[0]}, {16: whole[1]}  # as captured: the last form's
    switch = graph_switch.FormGraphs(graphs, outputs, 16, pair, whole)
    assert switch.splits is False and switch.alive
    switch.select(False)
    assert switch.changes == 0  # already in place
    graphs[16], outputs[16] = pair  # put back by someone else
    assert switch.splits is True
    switch.select(False)
    assert (graphs[16], outputs[16]) == whole and switch.changes == 1
    graphs[16] = object()  # a re-capture: neither form, the switch is dead
    switch.select(True)
    assert switch.splits is None and not switch.alive and switch.changes == 1
