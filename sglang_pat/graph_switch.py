"""Two forms of each PAT layer in SGLang's decode graphs: the step's plan picks which replays.

With the lean kernel a graph-planned step launches a pair: the private part forked on the
decoder's side stream and the shared-part build. A plan the lean gate keeps whole then runs
every item in the shared-part build, which is 1-3.5 µs a layer slower than the all-items build
on gsp defaults' batches, and the fork costs up to 9% where the private launch's programs reach
the SMs first (benchmarks/experiments/kept_whole/README.md). So each form is a graph of its
own (``form_capture``, ``FormGraphs``): SGLang's capture of a shape runs once per form, and each
step puts its plan's graph where SGLang's replay takes it. Either form computes any plan (the
all-items launch reads every item's count, ``PatDecoder.header_all``), so a graph of the other
form is slower, never wrong.

Until session 82 one graph could hold both forms, a node switch (``cuGraphNodeSetEnabled``)
enabling one per step. Served one server after another beside it on one H200, the graphs by
form decoded 0.07% faster on gsp 4 x 32, 0.50% on random-ids (session 81) and 0.39% on gsp
defaults (session 82), and no graph holds the second large pack build, which cost 5-10 µs a
layer call on split plans even disabled (benchmarks/experiments/switch_cost/). The node switch
is in git history at 175c548.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any


class GraphSwitches:
    """A decoder's switches by graph batch size. Every graph captured for a size (a LoRA or
    stream variant is another) takes the form of the plan last planned for that size."""

    def __init__(self) -> None:
        self.by_batch: dict[int, list[FormGraphs]] = {}

    def add(self, batch: int, switch: FormGraphs) -> None:
        # Dead switches of every size go: each holds its two graphs until then.
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


class FormGraphs:
    """One graph shape's two graphs in SGLang's graph backend (``form_capture``): the pair's
    and the all-items launch's. ``select`` puts the plan's form where SGLang's replay takes
    its graph and output. So no graph holds the second large pack build, which costs 5-10 µs
    a layer call on split plans wherever it stands, even disabled or beside the pair
    (benchmarks/experiments/switch_cost/, session 78), and a change of form is two dict
    stores, not a node toggle a launch. Both graphs are held here until the switch is dead and
    dropped."""

    def __init__(
        self, graphs: dict, outputs: dict, key: Any, pair: tuple[Any, Any], whole: tuple[Any, Any]
    ) -> None:
        self._graphs, self._outputs, self._key = graphs, outputs, key
        self._forms = {True: pair, False: whole}
        self.changes = 0

    @property
    def splits(self) -> bool | None:
        """The form whose graph the backend holds for the shape: True the pair's, False the
        all-items launch's (as captured, the last); None once SGLang's cleanup or a re-capture
        replaced it (the switch is dead). Read from the backend's dict, so it cannot go
        stale."""
        current = self._graphs.get(self._key)
        for splits, (graph, _) in self._forms.items():
            if current is graph:
                return splits
        return None

    @property
    def alive(self) -> bool:
        """Whether the backend still replays one of these graphs for the shape."""
        return self.splits is not None

    def select(self, splits: bool) -> None:
        """Put the pair's graph (``splits``) or the all-items launch's in place, only when the
        form changes and the switch is alive."""
        splits = bool(splits)  # the gate's choice may be a numpy bool
        current = self.splits
        if current is None or current == splits:
            return
        self._graphs[self._key], self._outputs[self._key] = self._forms[splits]
        self.changes += 1


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
