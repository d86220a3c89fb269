"""The per-step switch between a graph's two forms of each PAT layer (``graph_switch.py``), on
the CPU with stand-ins for the driver and the graph; the GPU test replays a real one
(``test_kernels_gpu.py``)."""

from __future__ import annotations

import ctypes
import gc
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import decoder_for, make_batch, tile_menu

from sglang_pat import graph_switch
from sglang_pat.forest import PrefixForest
from sglang_pat.graph_switch import GraphSwitch, LayerNodes


class FakeGraph:
    def __init__(self) -> None:
        self.instantiated = 0

    def instantiate(self) -> None:
        self.instantiated += 1

    def raw_cuda_graph_exec(self) -> int:
        assert self.instantiated, "the exec is read before the graph is instantiated"
        return 77


class FakeDecoder:
    def __init__(self) -> None:
        self.switches: list[GraphSwitch] = []

    def bind_graph(self, switch: GraphSwitch) -> None:  # as PatDecoder's after a whole plan
        self.switches.append(switch)
        switch.select(False)


@pytest.fixture
def toggles(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, bool]]:
    calls: list[tuple[int, int, bool]] = []
    monkeypatch.setattr(graph_switch, "set_node_enabled", lambda *call: calls.append(call))
    return calls


def test_select_enables_one_form_and_toggles_only_on_a_change(toggles) -> None:
    graph = FakeGraph()
    graph.instantiate()
    switch = GraphSwitch(graph, [LayerNodes(1, 2, 3), LayerNodes(4, 5, 6)])
    assert switch.splits is None  # as captured: both forms on
    switch.select(True)
    assert toggles == [(77, 1, True), (77, 2, True), (77, 3, False)] + [
        (77, 4, True),
        (77, 5, True),
        (77, 6, False),
    ]
    toggles.clear()
    switch.select(True)
    assert toggles == [] and switch.changes == 1
    switch.select(False)
    assert sorted(toggles) == sorted(
        [(77, node, False) for node in (1, 2, 4, 5)] + [(77, 3, True), (77, 6, True)]
    )
    assert switch.splits is False and switch.changes == 2
    toggles.clear()
    switch.select(np.False_)  # the gate's numpy bool is the same choice
    assert toggles == [] and switch.changes == 2


def test_recording_is_for_switchable_decoders_only() -> None:
    switchable, other = FakeDecoder(), FakeDecoder()
    graph_switch.make_switchable(switchable)
    assert graph_switch.recorder(switchable) is None  # no capture running
    with graph_switch.recording() as recorded:
        assert graph_switch.recorder(switchable) is recorded
        assert graph_switch.recorder(other) is None
        with pytest.raises(RuntimeError, match="already active"):
            with graph_switch.recording():
                pass
    assert graph_switch.recorder(switchable) is None


def test_capture_without_a_switchable_decoder_is_untouched() -> None:
    gc.collect()  # earlier tests' decoders leave the weak set
    stock = torch.cuda.CUDAGraph

    def capture() -> str:
        assert torch.cuda.CUDAGraph is stock
        return "captured"

    def graph_of() -> FakeGraph:
        raise AssertionError("no graph is looked up")

    assert graph_switch.switchable_capture(capture, graph_of) == "captured"


def test_switchable_capture_keeps_the_graph_and_binds_each_decoder(toggles) -> None:
    stock = torch.cuda.CUDAGraph
    first, second = FakeDecoder(), FakeDecoder()
    for decoder in (first, second):
        graph_switch.make_switchable(decoder)
    graph = FakeGraph()

    def capture() -> str:
        assert torch.cuda.CUDAGraph is graph_switch._KeptCUDAGraph
        for layer in range(3):
            graph_switch.recorder(first).append((first, LayerNodes(layer, 10 + layer, 20 + layer)))
        graph_switch.recorder(second).append((second, LayerNodes(7, 8, 9)))
        return "captured"

    assert graph_switch.switchable_capture(capture, lambda: graph) == "captured"
    assert torch.cuda.CUDAGraph is stock and graph.instantiated == 1
    (switch,) = first.switches
    assert switch.layers == tuple(LayerNodes(i, 10 + i, 20 + i) for i in range(3))
    assert switch.splits is False  # bound with the all-items form on
    assert len(second.switches) == 1 and second.switches[0].layers == (LayerNodes(7, 8, 9),)
    assert (77, 20, True) in toggles and (77, 0, False) in toggles


def test_a_failed_capture_restores_torch_and_binds_nothing() -> None:
    stock = torch.cuda.CUDAGraph
    decoder = FakeDecoder()
    graph_switch.make_switchable(decoder)

    def capture() -> None:
        graph_switch.recorder(decoder).append((decoder, LayerNodes(1, 2, 3)))
        raise RuntimeError("capture failed")

    with pytest.raises(RuntimeError, match="capture failed"):
        graph_switch.switchable_capture(capture, FakeGraph)
    assert torch.cuda.CUDAGraph is stock and decoder.switches == []
    assert graph_switch.recorder(decoder) is None


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


def test_a_dropped_graph_switch_goes_dead(toggles) -> None:
    """SGLang may drop its graphs (cleanup, recapture): their switches neither keep them
    alive nor toggle their freed execs, and the decoder drops them at the next bind."""
    graph = FakeGraph()
    graph.instantiate()
    switch = GraphSwitch(graph, [LayerNodes(1, 2, 3)])
    del graph
    gc.collect()
    switch.select(True)
    assert not switch.alive and toggles == [] and switch.changes == 0


class FakeDriver:
    """``cuStreamGetCaptureInfo`` (v2, or v3 only) and ``cuGraphNodeSetEnabled`` as the driver
    answers them, writing through the pointers the caller passes."""

    def __init__(self, status: int, count: int, node: int, v2: bool = True, result: int = 0):
        self.status, self.count, self.result = status, count, result
        self.node = ctypes.c_void_p(node)  # kept alive: the caller reads it through a pointer
        self.calls: list[tuple] = []
        if v2:
            self.cuStreamGetCaptureInfo_v2 = self._capture_info

    def _capture_info(self, stream, status, capture_id, graph, dependencies, *rest):
        self.calls.append(("info", stream.value, len(rest)))
        status._obj.value = self.status
        dependencies._obj.contents = self.node
        rest[-1]._obj.value = self.count  # v2: count last; v3: edge data, then count
        return self.result

    def cuStreamGetCaptureInfo_v3(self, stream, status, capture_id, graph, dependencies, *rest):
        return self._capture_info(stream, status, capture_id, graph, dependencies, *rest)

    def cuGraphNodeSetEnabled(self, graph_exec, node, enabled):
        self.calls.append(("enable", graph_exec.value, node.value, enabled.value))
        return self.result

    def cuGraphNodeGetEnabled(self, graph_exec, node, enabled):
        self.calls.append(("get", graph_exec.value, node.value))
        ctypes.cast(enabled, ctypes.POINTER(ctypes.c_uint))[0] = node.value % 2
        return self.result


@pytest.mark.parametrize("v2", [True, False], ids=["v2", "v3"])
def test_last_captured_node_reads_the_streams_one_dependency(v2, monkeypatch) -> None:
    driver = FakeDriver(graph_switch.CAPTURE_STATUS_ACTIVE, 1, 0xBEEF, v2=v2)
    monkeypatch.setattr(graph_switch, "cuda_driver", lambda: driver)
    stream = SimpleNamespace(cuda_stream=0x1234)
    assert graph_switch.last_captured_node(stream) == 0xBEEF
    assert driver.calls == [("info", 0x1234, 1 if v2 else 2)]


@pytest.mark.parametrize(
    "status, count, result", [(0, 1, 0), (1, 2, 0), (1, 1, 900)], ids=["idle", "fork", "error"]
)
def test_last_captured_node_refuses_what_it_cannot_name(status, count, result, monkeypatch):
    """Not capturing, a stream joined from two (two dependencies), or a driver error: a clear
    error, never a wrong node."""
    driver = FakeDriver(status, count, 0xBEEF, result=result)
    monkeypatch.setattr(graph_switch, "cuda_driver", lambda: driver)
    with pytest.raises(RuntimeError, match="expected one active dependency"):
        graph_switch.last_captured_node(SimpleNamespace(cuda_stream=1))


def test_set_node_enabled_passes_the_flag_and_raises_on_error(monkeypatch) -> None:
    driver = FakeDriver(1, 1, 0)
    monkeypatch.setattr(graph_switch, "cuda_driver", lambda: driver)
    graph_switch.set_node_enabled(7, 8, False)
    assert driver.calls == [("enable", 7, 8, 0)]
    driver.result = 1
    with pytest.raises(RuntimeError, match="cuGraphNodeSetEnabled failed with CUresult 1"):
        graph_switch.set_node_enabled(7, 8, True)


def test_node_enabled_reads_the_flag_and_raises_on_error(monkeypatch) -> None:
    driver = FakeDriver(1, 1, 0)
    monkeypatch.setattr(graph_switch, "cuda_driver", lambda: driver)
    assert graph_switch.node_enabled(7, 9) is True and graph_switch.node_enabled(7, 8) is False
    assert driver.calls == [("get", 7, 9), ("get", 7, 8)]
    driver.result = 1
    with pytest.raises(RuntimeError, match="cuGraphNodeGetEnabled failed with CUresult 1"):
        graph_switch.node_enabled(7, 8)


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
