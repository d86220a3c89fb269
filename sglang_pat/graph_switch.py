"""Two forms of each PAT layer in SGLang's decode graphs: the step's plan picks which replays.

By default each form is a graph of its own (``form_capture``, ``FormGraphs``): SGLang's
capture of a shape runs once per form, and each step puts its plan's graph where SGLang's
replay takes it. With ``SGLANG_PAT_GRAPH_FORMS=0`` one graph holds both forms and a node
switch enables one (the rest of this docstring); served beside it, the graphs by form decoded
0.07% faster on gsp 4 x 32 and 0.50% on random-ids (session 81).

With the lean kernel a graph-planned step launches a pair: the private part forked on the
decoder's side stream and the shared-part build. A plan the lean gate keeps whole then runs
every item in the shared-part build, which is 1-3.5 µs a layer slower than the all-items build
on gsp defaults' batches, and the fork costs up to 9% where the private launch's programs reach
the SMs first (benchmarks/experiments/kept_whole/README.md). So a switchable capture records
both forms, the pair and, after its join, the all-items launch, and per step exactly one form
is enabled with ``cuGraphNodeSetEnabled``: a disabled kernel node runs as an empty node
(session 25: the disabled private launch cost nothing). A toggle costs ~6 µs of host time, so
a graph is switched only when the plan's choice differs from that graph's last. Either form
computes any plan (the all-items launch reads every item's count, ``PatDecoder.header_all``),
so a graph left in the other form is slower, never wrong.

The nodes are read at capture: right after a launch, the capturing stream's one dependency is
the node just added (``cuStreamGetCaptureInfo``). Toggling needs the graph kept after
instantiation (torch's ``CUDAGraph(keep_graph=True)``): ``kept_graphs`` makes the graphs that
SGLang creates so while a switchable capture runs (``patches``).
"""

from __future__ import annotations

import contextlib
import ctypes
import weakref
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch

from .kernels.driver import cuda_driver

CAPTURE_STATUS_ACTIVE = 1  # CU_STREAM_CAPTURE_STATUS_ACTIVE


class LayerNodes(NamedTuple):
    """The graph nodes of one layer's launches in a switchable capture."""

    private: int  # the lean kernel's private part, on the side stream
    shared: int  # the shared-part build beside it
    whole: int  # the all-items build, after the pair's join


def last_captured_node(stream: torch.cuda.Stream) -> int:
    """The graph node of the last operation captured on ``stream``."""
    status, capture_id = ctypes.c_int(), ctypes.c_uint64()
    graph, count = ctypes.c_void_p(), ctypes.c_size_t()
    dependencies = ctypes.POINTER(ctypes.c_void_p)()
    libcuda = cuda_driver()
    head = (ctypes.c_void_p(stream.cuda_stream), ctypes.byref(status), ctypes.byref(capture_id))
    head += (ctypes.byref(graph), ctypes.byref(dependencies))
    if hasattr(libcuda, "cuStreamGetCaptureInfo_v2"):  # CUDA 11.3-12.x drivers export it
        result = libcuda.cuStreamGetCaptureInfo_v2(*head, ctypes.byref(count))
    else:  # the CUDA 12.3+ form, with edge data (none asked for)
        result = libcuda.cuStreamGetCaptureInfo_v3(*head, None, ctypes.byref(count))
    if result != 0 or status.value != CAPTURE_STATUS_ACTIVE or count.value != 1:
        raise RuntimeError(
            f"cuStreamGetCaptureInfo: CUresult {result}, status {status.value}, "
            f"{count.value} dependencies (expected one active dependency)"
        )
    return int(dependencies[0])


def set_node_enabled(graph_exec: int, node: int, enabled: bool) -> None:
    """``cuGraphNodeSetEnabled``: takes effect from the next launch of ``graph_exec``."""
    result = cuda_driver().cuGraphNodeSetEnabled(
        ctypes.c_void_p(graph_exec), ctypes.c_void_p(node), ctypes.c_uint(int(enabled))
    )
    if result != 0:
        raise RuntimeError(f"cuGraphNodeSetEnabled failed with CUresult {result}")


def node_enabled(graph_exec: int, node: int) -> bool:
    """``cuGraphNodeGetEnabled``: whether ``node`` runs in ``graph_exec``'s next launches."""
    enabled = ctypes.c_uint()
    result = cuda_driver().cuGraphNodeGetEnabled(
        ctypes.c_void_p(graph_exec), ctypes.c_void_p(node), ctypes.byref(enabled)
    )
    if result != 0:
        raise RuntimeError(f"cuGraphNodeGetEnabled failed with CUresult {result}")
    return bool(enabled.value)


class FormSwitch:
    """What a decoder's ``GraphSwitches`` holds for one captured graph shape: ``select`` puts
    the pair (``splits``) or the all-items launch in place, only when the form changes."""

    def __init__(self) -> None:
        self.splits: bool | None = None  # None: as captured
        self.changes = 0

    @property
    def alive(self) -> bool:
        raise NotImplementedError

    def _put(self, splits: bool) -> None:
        raise NotImplementedError

    def select(self, splits: bool) -> None:
        splits = bool(splits)  # the gate's choice may be a numpy bool
        if splits == self.splits or not self.alive:
            return
        self._put(splits)
        self.splits = splits
        self.changes += 1


class GraphSwitch(FormSwitch):
    """A decoder's layers in one instantiated graph; ``select`` enables one form of each (as
    captured, both forms are enabled)."""

    def __init__(self, graph: Any, layers: list[LayerNodes]) -> None:
        super().__init__()
        # Weak: the graph (its cudaGraph_t, which owns the nodes, and its exec) lives as long
        # as SGLang keeps it; a dropped graph's switch goes dead instead of holding its memory.
        self._graph = weakref.ref(graph)
        self.graph_exec = graph.raw_cuda_graph_exec()
        self.layers = tuple(layers)

    @property
    def alive(self) -> bool:
        return self._graph() is not None

    def _put(self, splits: bool) -> None:
        for layer in self.layers:
            set_node_enabled(self.graph_exec, layer.private, splits)
            set_node_enabled(self.graph_exec, layer.shared, splits)
            set_node_enabled(self.graph_exec, layer.whole, not splits)


class GraphSwitches:
    """A decoder's switches by graph batch size. Every graph captured for a size (a LoRA or
    stream variant is another) takes the form of the plan last planned for that size."""

    def __init__(self) -> None:
        self.by_batch: dict[int, list[FormSwitch]] = {}

    def add(self, batch: int, switch: FormSwitch) -> None:
        # Dead switches of every size go: a FormGraphs holds its graphs until then.
        self.by_batch = {
            size: live
            for size, switches in self.by_batch.items()
            if (live := [s for s in switches if s.alive])
        }
        self.by_batch[batch] = [*self.by_batch.get(batch, []), switch]

    def select(self, batch: int, splits: bool) -> None:
        for switch in self.by_batch.get(batch, ()):
            switch.select(splits)

    def counts(self) -> tuple[int, int]:
        """Live switched graphs, and how many times they changed form (for the logs)."""
        live = [s for switches in self.by_batch.values() for s in switches if s.alive]
        return len(live), sum(s.changes for s in live)


_recorded: list[tuple[Any, LayerNodes]] | None = None
_switchable: weakref.WeakSet[Any] = weakref.WeakSet()  # decoders whose captures switch


def make_switchable(decoder: Any) -> None:
    """Let ``decoder``'s lean pairs be recorded in captures that ``switchable_capture`` runs."""
    _switchable.add(decoder)


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[Any, LayerNodes]]]:
    """While active, a switchable decoder (``make_switchable``) captured with its lean pair
    also captures the all-items launch and records ``(decoder, LayerNodes)`` here, one entry a
    layer."""
    global _recorded
    if _recorded is not None:
        raise RuntimeError("graph_switch.recording() is already active")
    _recorded = []
    try:
        yield _recorded
    finally:
        _recorded = None


def recorder(decoder: Any) -> list[tuple[Any, LayerNodes]] | None:
    """The active recording's list if ``decoder`` is switchable, else None."""
    return _recorded if _recorded is not None and decoder in _switchable else None


def bind(graph: Any, recorded: list[tuple[Any, LayerNodes]]) -> None:
    """Give each decoder that recorded layers into the instantiated ``graph`` its switch,
    which the decoder sets to the form of its last plan (``PatDecoder.bind_graph``; each
    replay's plan selects again)."""
    layers: dict[int, tuple[Any, list[LayerNodes]]] = {}
    for decoder, nodes in recorded:
        layers.setdefault(id(decoder), (decoder, []))[1].append(nodes)
    for decoder, nodes in layers.values():
        decoder.bind_graph(GraphSwitch(graph, nodes))


class FormGraphs(FormSwitch):
    """One graph shape's two graphs in SGLang's graph backend (``form_capture``): the pair's
    and the all-items launch's. ``select`` puts the plan's form where SGLang's replay takes
    its graph and output. So no graph holds the second large pack build, which costs 5-10 µs
    a layer call on split plans wherever it stands, even disabled or beside the pair
    (benchmarks/experiments/switch_cost/, session 78), and a change of form is two dict
    stores, not a node toggle a launch. Both graphs are held here (as captured, the backend's
    dicts hold the last captured form's) until the switch is dead and dropped."""

    def __init__(
        self, graphs: dict, outputs: dict, key: Any, pair: tuple[Any, Any], whole: tuple[Any, Any]
    ) -> None:
        super().__init__()
        self._graphs, self._outputs, self._key = graphs, outputs, key
        self._forms = {True: pair, False: whole}

    @property
    def alive(self) -> bool:
        """Whether the backend still replays one of these graphs for the shape (SGLang's
        cleanup or a re-capture replaces them)."""
        current = self._graphs.get(self._key)
        return any(current is graph for graph, _ in self._forms.values())

    def _put(self, splits: bool) -> None:
        self._graphs[self._key], self._outputs[self._key] = self._forms[splits]


_per_form: weakref.WeakSet[Any] = weakref.WeakSet()  # decoders captured once per form


def make_per_form(decoder: Any) -> None:
    """Let ``form_capture`` capture ``decoder``'s lean pairs and all-items launches in graphs
    of their own (``PatDecoder.capture_form``)."""
    _per_form.add(decoder)


@contextlib.contextmanager
def _capturing_form(decoders: list[Any], pair: bool) -> Iterator[None]:
    for decoder in decoders:
        decoder.capture_form, decoder.captured_pair = pair, False
    try:
        yield
    finally:
        for decoder in decoders:
            decoder.capture_form = None


def form_capture(
    capture: Callable[[], Any], held: Callable[[], tuple[dict, dict]], key: Any
) -> Any:
    """Run ``capture`` (SGLang's, which stores one graph and its output under ``key`` in the
    graphs and outputs dicts that ``held`` returns) with the per-form decoders
    (``make_per_form``) in the pair's form; where one launched a pair in it, capture again in
    the all-items launch's form and give it both graphs (``FormGraphs``, through
    ``PatDecoder.bind_graph``). Without a per-form decoder, ``capture`` alone, untouched."""
    decoders = list(_per_form)
    if not decoders:
        return capture()
    with _capturing_form(decoders, True):
        result = capture()
        paired = [decoder for decoder in decoders if decoder.captured_pair]
    # None: a graph without PAT layers (SGLang's prefill graphs) or too small for the pair
    # (LeanKernel.min_graph_batch) has one form.
    if not paired:
        return result
    graphs, outputs = held()
    pair = (graphs[key], outputs[key])
    with _capturing_form(decoders, False):
        capture()
    whole = (graphs[key], outputs[key])
    for decoder in paired:
        decoder.bind_graph(FormGraphs(graphs, outputs, key, pair, whole))
    return result


class _KeptCUDAGraph(torch.cuda.CUDAGraph):
    """A ``torch.cuda.CUDAGraph`` that keeps its cudaGraph_t, whatever the caller asks (the
    flag is taken by PyTorch's pybind ``__init__``; ``__new__`` ignores it)."""

    def __init__(self, keep_graph: bool = True) -> None:
        super().__init__(True)


@contextlib.contextmanager
def kept_graphs() -> Iterator[None]:
    """``torch.cuda.CUDAGraph()`` keeps its graph while active (for SGLang's capture, which
    makes its graphs itself); instantiate such a graph before its exec is used."""
    original = torch.cuda.CUDAGraph
    torch.cuda.CUDAGraph = _KeptCUDAGraph  # type: ignore[misc]
    try:
        yield
    finally:
        torch.cuda.CUDAGraph = original  # type: ignore[misc]


def any_switchable() -> bool:
    """Whether a switchable decoder exists, so that ``switchable_capture`` records."""
    return bool(_switchable)


def switchable_capture(capture: Callable[[], Any], captured_graph: Callable[[], Any]) -> Any:
    """Run ``capture`` (which makes and captures one graph; ``captured_graph`` returns it)
    with kept graphs and recording when a switchable decoder exists; then instantiate the
    graph and bind the recorded layers to it. Otherwise ``capture`` alone, untouched."""
    if not any_switchable():
        return capture()
    with recording() as recorded, kept_graphs():
        result = capture()
    graph = captured_graph()
    graph.instantiate()
    bind(graph, recorded)
    return result
