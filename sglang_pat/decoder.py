"""PatDecoder: the device side of PAT decode for one model shape.

``plan_step`` runs once per decode step, outside any CUDA graph: plan on the CPU, stage the plan
in double-buffered pinned memory, then one kernel copies it into fixed device buffers and
gathers the plan's KV slot indices out of ``req_to_token``. ``forward`` runs per layer and only
launches kernels on fixed grids, so it can be captured once and replayed every step.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from .cost_model import CostModel, TileMenu
from .forest import PrefixForest
from .graph_switch import FormGraphs, GraphSwitches
from .kernels.driver import pdl_supported
from .kernels.launch import merge_states, pack_decode
from .kernels.launch_sm90 import shared_part_sm90, sm90_inputs_fit, sm90_unsupported_reason
from .launch_policy import MERGE_SLOTS_AT_ONCE_MAX_BATCH, PDL_MAX_BATCH, launch_header
from .plan import PackPlan, PlanCapacity, PlanCapacityError
from .plan_buffers import PlanBuffers, StagedPlan
from .scheduler import PackScheduler
from .streams import SideStream

# The backend's budget of partial slots (16 KiB each at 32 heads × 128): a plan that needs
# more falls back to the all-private plan.
SERVER_MAX_PARTIALS = 16384


def device_sm_count(device: torch.device) -> int:
    """Streaming multiprocessors of the device (a small stand-in for the CPU interpreter)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 2


class PatDecoder:
    """Worst-case device buffers, per-step planning and upload, per-layer kernel launches.

    Size ``max_kv_indices`` for the batch's total KV length (Σ seq_lens): a shared plan needs
    less, and the all-private plan used when sharing overflows a buffer needs exactly that.
    """

    def __init__(
        self,
        *,
        num_q_heads: int,
        num_kv_heads: int,
        head_dim: int,
        device: torch.device | str,
        max_requests: int,
        max_kv_indices: int,
        v_head_dim: int | None = None,
        kv_dtype: torch.dtype = torch.bfloat16,
        num_sms: int | None = None,
        menu: TileMenu | None = None,
        cost: CostModel | None = None,
        max_chunks_per_tile: int = 32,
        max_partials: int | None = None,
        sm90_shared: bool = False,
        stores_new_kv: bool = False,
    ) -> None:
        if num_q_heads % num_kv_heads:
            raise ValueError(f"num_q_heads {num_q_heads} is not a multiple of {num_kv_heads}")
        self.device = torch.device(device)
        self.v_head_dim = v_head_dim or head_dim
        num_sms = num_sms or device_sm_count(self.device)
        self.scheduler = PackScheduler(
            num_kv_heads=num_kv_heads,
            group_size=num_q_heads // num_kv_heads,
            head_dim=head_dim,
            v_head_dim=self.v_head_dim,
            num_sms=num_sms,
            kv_elem_bytes=torch.finfo(kv_dtype).bits // 8,
            menu=menu,
            cost=cost,
            max_chunks_per_tile=max_chunks_per_tile,
        )
        self.menu = self.scheduler.menu
        self.num_programs = self.scheduler.num_programs
        self.capacity = PlanCapacity.for_batch(max_requests, max_kv_indices, max_chunks_per_tile)
        if max_partials is not None:  # a memory budget: plans needing more fall back
            self.capacity = dataclasses.replace(self.capacity, max_partials=max_partials)
        self.scheduler.capacity = self.capacity
        cap = self.capacity
        # The plan's sections (plan_buffers.py). The launches' views are the same tensors,
        # fixed for the decoder's life (graphs capture their addresses), named here too.
        self.buffers = PlanBuffers(cap, self.device)
        self.items = self.buffers.items
        self.members = self.buffers.members
        self.header = self.buffers.header
        self.header_all = self.buffers.header_all
        self.req_partial_indptr = self.buffers.req_partial_indptr
        int32 = dict(dtype=torch.int32, device=self.device)
        self.queue = torch.zeros(1, **int32)  # the pack kernel's work queue, zero between launches
        self.kv_indices = torch.zeros(cap.max_kv_indices, **int32)
        self.partial_o = torch.empty(
            cap.max_partials, num_q_heads, self.v_head_dim, dtype=torch.float32, device=self.device
        )
        self.partial_lse = torch.empty(
            cap.max_partials, num_q_heads, dtype=torch.float32, device=self.device
        )
        self.plan: PackPlan | None = None
        self.merge_needed = True
        self.lean_needed = False
        self.splits = False  # the uploaded plan's private items go to the private-part launch
        # With the lean kernel, the private part runs beside the shared part on a stream of
        # its own (never one of PyTorch's pooled streams: streams.py), forked and joined
        # through two events per layer (capturable: a graph records a fork and a join).
        self.num_private_programs = self.scheduler.num_private_part_programs
        fork = self.menu.lean is not None and self.device.type == "cuda"
        self.side = SideStream(self.device, self) if fork else None
        # Set by ``graph_switch.form_capture`` while it captures one form (and for good by the
        # kernel benchmark's ``pat-forms``): False launches the all-items build where the plan
        # has the pair (True, or None outside a capture: as planned).
        # ``captured_pair``: whether a layer launched the pair in that capture (SGLang's
        # prefill graphs run no PAT layer).
        self.capture_form: bool | None = None
        self.captured_pair = False
        # The lean pair's shared part in Gluon (kernels/shared_part_sm90.py) where asked for and
        # the device and menu allow; layers whose tensors it does not read keep the Triton one.
        self.sm90_shared_reason = (
            sm90_unsupported_reason(self.device, self.menu) if sm90_shared else None
        )
        self.sm90_shared = sm90_shared and self.sm90_shared_reason is None
        # ``forward(new_kv=...)``: the pack kernels write the layer's new K/V themselves, so
        # every plan keeps each request's new token in a private tail (see plan_step).
        self.stores_new_kv = stores_new_kv
        self.shared_tail_fallbacks = 0
        self._graph_batch = 0  # the batch size of the graph last planned for
        self._pdl = pdl_supported(self.device)
        self.graph_switches = GraphSwitches()  # graph_switch.py
        self.capacity_fallbacks = 0
        self._checked: set[tuple] = set()  # input signatures the launchers already checked

    def plan_step(
        self,
        forest: PrefixForest,
        req_pool_indices: Sequence[int] | np.ndarray,
        req_to_token: torch.Tensor,
        *,
        for_graph: bool = False,
        graph_batch: int | None = None,
    ) -> PackPlan:
        """Plan, upload and gather for one step. ``for_graph`` keeps the merge launched in
        ``forward`` (a captured graph replays it whatever the plan). ``graph_batch``: the
        batch size of the graph that is captured or replayed, padded rows included (default:
        the forest's requests); below ``LeanKernel.min_graph_batch`` the graph has no
        private-part launch, so the plan is kept whole."""
        if graph_batch is not None and graph_batch < forest.num_requests:
            raise ValueError(f"graph_batch {graph_batch} < the {forest.num_requests} requests")
        plan = None
        if self.stores_new_kv and np.any(forest.seq_lens <= forest.private_start()):
            # A request whose new token ends a shared node (no private tail; never so in a
            # server, where the new token is in no radix node): no unit of its own would
            # store it, so the step is read privately.
            self.shared_tail_fallbacks += 1
        else:
            try:
                plan = self.scheduler.plan(forest, req_pool_indices)
            except PlanCapacityError:
                # Sharing that needs more partials or members than the buffers hold: read
                # every request's KV privately (always fits, see PlanCapacity.for_batch).
                self.capacity_fallbacks += 1
        if plan is None:
            private = PrefixForest.no_sharing(forest.seq_lens)
            plan = self.scheduler.plan_cold(private, req_pool_indices)
        lean = self.menu.lean
        graph_pair = (
            lean is not None
            and for_graph
            and (graph_batch or forest.num_requests) >= lean.min_graph_batch
        )
        # A lazy plan is the last one with every request a token longer: keep its split (the
        # gate costs ~20 µs of numpy, a lazy update ~10 µs).
        lazy = self.scheduler.last_plan_was_lazy
        self.upload(plan, req_to_token, keep_split=lazy, may_split=graph_pair or not for_graph)
        self.merge_needed = for_graph or plan.num_partials > 0
        self.lean_needed = graph_pair or (not for_graph and self.splits)
        if for_graph:
            self._graph_batch = graph_batch or forest.num_requests
            # The graph about to replay runs the form this plan wants.
            self.graph_switches.select(self._graph_batch, self.splits)
        return plan

    def bind_graph(self, switch: FormGraphs) -> None:
        """The switch of the graph just captured for the last planned graph batch size, set to
        the form that plan wants (``form_capture`` leaves the all-items launch's graph in
        place, the last captured), so that a replay before the next ``plan_step`` runs it."""
        self.graph_switches.add(self._graph_batch, switch)
        switch.select(self.splits)

    def _splits(self, plan: PackPlan) -> bool:
        """Whether the plan's private items go to the private-part launch: with the lean kernel
        on, when the plan has shared items too (two kinds of unit to overlap on each SM) and
        its gate expects the split to pay (``lean_gate``)."""
        lean = self.menu.lean
        if lean is None or not 0 < plan.num_shared_items < plan.items.shape[0]:
            return False
        if lean.gate is None:
            return True
        return lean.gate.splits(self.scheduler.plan_work(plan))

    def upload(
        self,
        plan: PackPlan,
        req_to_token: torch.Tensor,
        keep_split: bool = False,
        may_split: bool = True,
    ) -> None:
        """Copy the plan into the device buffers (padded requests get empty merge ranges) and
        gather its KV slot indices out of ``req_to_token``; ``keep_split`` and ``may_split``
        as for ``stage``."""
        self.buffers.upload(self.stage(plan, keep_split, may_split), req_to_token, self.kv_indices)

    def stage(self, plan: PackPlan, keep_split: bool = False, may_split: bool = True) -> StagedPlan:
        """The host's part of ``upload``: the gate's choice, the launches' header, and the plan
        in pinned staging memory. ``keep_split``: the plan is a lazy update of the last one
        uploaded (the same items, every request a token longer), so the gate's choice is kept.
        ``may_split=False``: the step runs no private-part launch (a small batch's graph), so
        the plan stays whole."""
        plan.check_fits(self.capacity)
        if not may_split:
            self.splits = False
        elif not keep_split:
            self.splits = self._splits(plan)
        # The sm90 part computes shared items only (no packed tails, no store), so with it the
        # pair's header always splits: a pair that replays a whole plan (a graph without the
        # switch, or left in the pair's form) runs it split, slower than whole, never wrong.
        header = launch_header(
            plan,
            self.splits or self.sm90_shared,
            num_programs=self.num_programs,
            shared_part_programs=self.scheduler.num_shared_part_programs,
            num_kv_heads=self.scheduler.num_kv_heads,
            group_size=self.scheduler.group_size,
        )
        self.plan = plan
        return self.buffers.stage(plan, header)

    def forward(
        self,
        q: torch.Tensor,
        k_buffer: torch.Tensor,
        v_buffer: torch.Tensor,
        o: torch.Tensor,
        *,
        sm_scale: float,
        logit_cap: float = 0.0,
        new_kv: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """One layer: ``o [B, Hq, Dv] = attention(q [B, Hq, D], KV of the planned step)``.
        ``new_kv = (k_new [B, Hkv, D], v_new [B, Hkv, Dv], new_loc [B])`` (a decoder built
        with ``stores_new_kv``): the kernels first write the layer's new K/V at ``new_loc``,
        where the caller would otherwise store them before this call.

        Inputs are checked once per signature (shapes, dtypes, strides, devices): every layer
        of every step passes the same kinds of tensors, only their contents change.
        """
        tensors = (q, k_buffer, v_buffer, o, *(new_kv or ()))
        signature = tuple((t.shape, t.dtype, t.stride(), t.device) for t in tensors) + (
            logit_cap >= 0.0,
        )
        check = signature not in self._checked
        if check and new_kv is not None and not self.stores_new_kv:
            raise ValueError("new_kv: the decoder was built without stores_new_kv")
        head = (q, k_buffer, v_buffer, o, self.kv_indices, self.items, self.members)
        tail = (self.queue, self.partial_o, self.partial_lse)
        args, all_args = (*head, self.header, *tail), (*head, self.header_all, *tail)
        options = dict(menu=self.menu, sm_scale=sm_scale, logit_cap=logit_cap, check=check)
        pack_options = dict(options, new_kv=new_kv)  # the sm90 part has none to store
        lean = self.lean_needed and self.capture_form is not False
        if self.capture_form is not None:
            self.captured_pair = self.captured_pair or lean
        side = self.side if lean else None  # on the CPU: one after the other
        main = side.fork() if side is not None else None
        # The one launch of a small batch: the merge follows the pack kernel on the stream
        # with nothing between them, so it can start as its programmatic dependent.
        pdl = self._pdl and not lean and self.merge_needed and q.shape[0] < PDL_MAX_BATCH
        # An eager step that the gate keeps whole launches the all-items build alone, as without
        # the lean kernel; a graph-planned one captures the pair (and, in the graph of the
        # other form, the all-items launch: graph_switch.form_capture; with the switch off a
        # whole plan replays the pair, its private part empty, or split where the sm90 part is
        # on: see ``stage``). The sm90 part runs where the layer's tensors are of its kinds;
        # elsewhere the Triton shared part does.
        if lean:
            with torch.cuda.stream(side.stream) if side is not None else contextlib.nullcontext():
                pack_decode(
                    *args, num_programs=self.num_private_programs, part="private", **pack_options
                )
            if self.sm90_shared and sm90_inputs_fit(q, k_buffer, v_buffer, logit_cap):
                shared_part_sm90(
                    *(*head, self.header, self.partial_o, self.partial_lse),
                    num_programs=self.scheduler.num_shared_part_programs, **options,
                )  # fmt: skip
            else:
                pack_decode(*args, num_programs=self.num_programs, part="shared", **pack_options)
        else:
            pack_decode(
                *all_args, num_programs=self.num_programs, part="all", pdl=pdl, **pack_options
            )
        if side is not None:
            side.join(main)
        if self.merge_needed:
            merge_states(
                o,
                self.partial_o,
                self.partial_lse,
                self.req_partial_indptr,
                check=check,
                pdl=pdl,
                slots_at_once=q.shape[0] <= MERGE_SLOTS_AT_ONCE_MAX_BATCH,
            )
        if check:
            self._checked.add(signature)
        return o
