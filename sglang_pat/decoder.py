"""PatDecoder: the device side of PAT decode for one model shape.

``plan_step`` runs once per decode step, outside any CUDA graph: plan on the CPU, copy the plan
into fixed device buffers (non-blocking copies from double-buffered pinned memory),
gather the plan's KV slot indices out of ``req_to_token``. ``forward`` runs per layer and only
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
from .graph_switch import GraphSwitch, GraphSwitches, LayerNodes, last_captured_node, recorder
from .kernels.launch import gather_kv_indices, merge_grid, merge_states, pack_decode, pdl_supported
from .kernels.launch_sm90 import shared_part_sm90, sm90_inputs_fit, sm90_unsupported_reason
from .plan import (
    ITEM_FIELDS,
    MEMBER_FIELDS,
    SEGMENT_FIELDS,
    PackPlan,
    PlanCapacity,
    PlanCapacityError,
)
from .scheduler import PackScheduler
from .streams import dedicated_stream

# Batches under this many rows (a graph's, padding included) that run the one launch start the
# merge as the pack kernel's programmatic dependent (PDL): 0.2-1.0 µs a layer less on batches
# of 1-12 requests, outputs identical (H200, session 28); on shared shapes of 64+ requests it
# cost 1-1.5 µs (session 12), and those run the lean pair anyway (benchmarks/experiments/
# latency/README.md).
PDL_MAX_BATCH = 16
# The merge's programs land on the SMs that pack programs have left. Started at once, they
# crowd onto the SMs of the few programs that have no unit, and the merge's partial reads go
# through those SMs: 1,8_4096,480 at 64 q / 8 KV heads (256 units on 264 programs, 64 merge
# programs) took 37.6 µs against 24.8 with the plain merge (H200, session 35,
# benchmarks/experiments/chunks/cut_or_whole.py). So a plan starts the merge at once only
# when no program is idle or the idle ones number at least this share of the merge's programs
# (measured gaining ~1 µs: 8 idle for 8-16, 40 for 40-48, 72 for 64); otherwise the merge
# launches as the pack kernel ends.
PDL_IDLE_PER_MERGE_PROGRAM = 0.5
# One request's merge loads 16 of its partial slots at once (``merge_states(slots_at_once=
# True)``): 0.4-1.7 µs a layer less at 2,000-16,000 tokens (8-32 slots), 0.3 more at 1,000
# (4 slots). From two requests on it lost as often as it gained (2 × 1,000 and 2 × 8,000:
# +0.4 and +1.4 µs; 8 and 15 requests: +0.8 and +3.6; 10 sharing a prefix: +5.2), so
# batches of two or more keep the slot-by-slot merge (H200, session 33,
# benchmarks/experiments/merge_slots/).
MERGE_SLOTS_AT_ONCE_MAX_BATCH = 1
# The backend's budget of partial slots (16 KiB each at 32 heads × 128): a plan that needs
# more falls back to the all-private plan.
SERVER_MAX_PARTIALS = 16384


def merge_starts_early(units: int, num_programs: int, merge_programs: int) -> bool:
    """Whether a PDL merge may start as the pack kernel starts (``PDL_IDLE_PER_MERGE_PROGRAM``):
    ``units`` (items × KV heads) on ``num_programs`` programs; ``merge_programs``: the merge's
    grid for the plan's requests (those with one partial read nothing, but are few where the
    merge crowds: each shared pack gives its members several)."""
    idle = num_programs - units
    return idle <= 0 or idle >= PDL_IDLE_PER_MERGE_PROGRAM * merge_programs


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
        if stores_new_kv and sm90_shared:
            raise ValueError("stores_new_kv: the sm90 shared part does not store the new K/V")
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
        sizes = {
            "segments": cap.max_segments * SEGMENT_FIELDS,
            "items": cap.max_items * ITEM_FIELDS,
            "members": cap.max_members * MEMBER_FIELDS,
            # items of the pack kernel, its programs with work, lean items; then at [4] (16 bytes
            # on: the same pointer alignment) every item's count and whether a PDL merge may
            # start at once, for all-items launches
            "header": 7,
            "req_partial_indptr": cap.max_requests + 1,
        }
        self._sections: dict[str, tuple[int, int]] = {}
        offset = 0
        for name, size in sizes.items():  # in this order: upload copies the last two at once
            self._sections[name] = (offset, size)
            offset += size
        int32 = dict(dtype=torch.int32, device=self.device)
        self._plan_buffer = torch.zeros(offset, **int32)
        self.segments = self._section(self._plan_buffer, "segments").view(-1, SEGMENT_FIELDS)
        self.items = self._section(self._plan_buffer, "items").view(-1, ITEM_FIELDS)
        self.members = self._section(self._plan_buffer, "members").view(-1, MEMBER_FIELDS)
        header = self._section(self._plan_buffer, "header")
        self.header = header[:3]
        # An all-items launch reads its own count, so that it computes the whole plan also when
        # the gate splits it: a graph that replays that form by mistake is slow, never wrong.
        self.header_all = header[4:6]
        self.queue = torch.zeros(1, **int32)  # the pack kernel's work queue, zero between launches
        self.req_partial_indptr = self._section(self._plan_buffer, "req_partial_indptr")
        self.kv_indices = torch.zeros(cap.max_kv_indices, **int32)
        self.partial_o = torch.empty(
            cap.max_partials, num_q_heads, self.v_head_dim, dtype=torch.float32, device=self.device
        )
        self.partial_lse = torch.empty(
            cap.max_partials, num_q_heads, dtype=torch.float32, device=self.device
        )
        pin = self.device.type == "cuda"
        self._staging = [torch.zeros(offset, dtype=torch.int32, pin_memory=pin) for _ in range(2)]
        self._staging_done = [torch.cuda.Event() if pin else None for _ in range(2)]
        self._staging_next = 0
        self.plan: PackPlan | None = None
        self.merge_needed = True
        self.lean_needed = False
        self.splits = False  # the uploaded plan's private items go to the private-part launch
        # With the lean kernel, the private part runs beside the shared part on a stream of
        # its own (never one of PyTorch's pooled streams: streams.py), forked and joined
        # through two events per layer (capturable: a graph records a fork and a join).
        self.num_private_programs = self.scheduler.num_private_part_programs
        fork = self.menu.lean is not None and pin
        self._side = dedicated_stream(self.device, self) if fork else None
        self._fork = torch.cuda.Event() if fork else None
        self._join = torch.cuda.Event() if fork else None
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

    def _section(self, flat: torch.Tensor, name: str) -> torch.Tensor:
        offset, size = self._sections[name]
        return flat[offset : offset + size]

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
        self.upload(plan, keep_split=lazy, may_split=graph_pair or not for_graph)
        max_len = int(plan.segments[:, 2].max()) if plan.segments.shape[0] else 0
        gather_kv_indices(
            req_to_token, self.segments, self.kv_indices, plan.segments.shape[0], max_len
        )
        self.merge_needed = for_graph or plan.num_partials > 0
        self.lean_needed = graph_pair or (not for_graph and self.splits)
        if for_graph:
            self._graph_batch = graph_batch or forest.num_requests
            # The graph about to replay runs the form this plan wants.
            self.graph_switches.select(self._graph_batch, self.splits)
        return plan

    def bind_graph(self, switch: GraphSwitch) -> None:
        """The switch of the graph just captured for the last planned graph batch size."""
        self.graph_switches.add(self._graph_batch, switch)

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

    def _header(self, plan: PackPlan, splits: bool) -> np.ndarray:
        """The launches' header (see ``pack_decode``): the shared part's items and programs
        with work, then the private part's items; or every item on every program, none for a
        private part. At [4], every item and whether a PDL merge starts at once: the
        all-items launches' own header (``header_all``)."""
        num_items = plan.items.shape[0]
        if not splits:
            pair = [num_items, self.num_programs, 0]
        else:
            shared = plan.num_shared_items
            pair = [shared, self.scheduler.num_shared_part_programs, num_items - shared]
        kv_heads, requests = self.scheduler.num_kv_heads, plan.num_requests
        batch, head_blocks = merge_grid(
            requests,
            kv_heads * self.scheduler.group_size,
            requests <= MERGE_SLOTS_AT_ONCE_MAX_BATCH,  # as forward's, padding aside
        )
        early = merge_starts_early(num_items * kv_heads, self.num_programs, batch * head_blocks)
        return np.asarray([*pair, 0, num_items, early, 0], dtype=np.int32)

    def upload(self, plan: PackPlan, keep_split: bool = False, may_split: bool = True) -> None:
        """Copy the plan into the device buffers; padded requests get empty merge ranges.
        ``keep_split``: the plan is a lazy update of the last one uploaded (the same items,
        every request a token longer), so the gate's choice is kept. ``may_split=False``: the
        step runs no private-part launch (a small batch's graph), so the plan stays whole."""
        plan.check_fits(self.capacity)
        if not may_split:
            self.splits = False
        elif not keep_split:
            self.splits = self._splits(plan)
        slot = self._staging_next
        self._staging_next ^= 1
        if self._staging_done[slot] is not None:
            self._staging_done[slot].synchronize()  # the copy from this buffer two steps ago
        staging = self._staging[slot].numpy()
        for name, array in (
            ("segments", plan.segments),
            ("items", plan.items),
            ("members", plan.members),
        ):
            offset, _ = self._sections[name]
            staging[offset : offset + array.size] = array.reshape(-1)
            self._copy(slot, offset, array.size)
        # The header and the merge ranges fill their sections and sit side by side (see
        # __init__): one copy for both, one operation fewer on the stream before each step.
        header_offset, header_size = self._sections["header"]
        staging[header_offset : header_offset + header_size] = self._header(plan, self.splits)
        offset, size = self._sections["req_partial_indptr"]
        indptr = plan.req_partial_indptr
        staging[offset : offset + indptr.size] = indptr
        staging[offset + indptr.size : offset + size] = indptr[-1]
        self._copy(slot, header_offset, offset + size - header_offset)
        if self._staging_done[slot] is not None:
            self._staging_done[slot].record()
        self.plan = plan

    def _copy(self, slot: int, offset: int, size: int) -> None:
        if size:
            self._plan_buffer[offset : offset + size].copy_(
                self._staging[slot][offset : offset + size], non_blocking=True
            )

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
        pack_options = dict(options, new_kv=new_kv)  # the sm90 part never runs with new_kv
        fork = self.lean_needed and self._side is not None  # on the CPU: one after the other
        # In a switchable capture (graph_switch.py) the all-items launch follows the pair; in
        # its eager warmup runs too, so that no kernel is first compiled while capturing.
        record = recorder(self) if fork else None
        capturing = record is not None and torch.cuda.is_current_stream_capturing()
        private_node = shared_node = 0
        if fork:
            main = torch.cuda.current_stream(self.device)
            self._fork.record(main)
            self._side.wait_event(self._fork)
        # The one launch of a small batch: the merge follows the pack kernel on the stream
        # with nothing between them, so it can start as its programmatic dependent.
        pdl = (
            self._pdl and not self.lean_needed and self.merge_needed and q.shape[0] < PDL_MAX_BATCH
        )
        # An eager step that the gate keeps whole launches the all-items build alone, as without
        # the lean kernel; a graph-planned one captures the pair (and, switchable, the
        # all-items launch below; else a whole plan replays the pair, its private part empty).
        if self.lean_needed:
            with torch.cuda.stream(self._side) if fork else contextlib.nullcontext():
                pack_decode(
                    *args, num_programs=self.num_private_programs, part="private", **pack_options
                )
            if capturing:
                private_node = last_captured_node(self._side)
            if self._sm90_shared_runs((q, k_buffer, v_buffer), logit_cap, record is not None):
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
        if fork:
            if capturing:
                shared_node = last_captured_node(main)
            self._join.record(self._side)
            main.wait_event(self._join)
        if record is not None:
            pack_decode(*all_args, num_programs=self.num_programs, part="all", **pack_options)
            if capturing:
                nodes = LayerNodes(private_node, shared_node, last_captured_node(main))
                record.append((self, nodes))
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

    def _sm90_shared_runs(
        self, qkv: tuple[torch.Tensor, ...], logit_cap: float, switchable: bool
    ) -> bool:
        """Whether this layer's shared part runs the sm90 kernel: asked for and available,
        the layer's tensors of its kinds, and whole plans kept away from it. A whole plan's
        shared-part launch runs every item, and the kernel computes packed tails one block at
        a time (right, but slow). A switchable graph's pair replays split plans only, unless a
        graph is left in the other form; an eager step launches the pair only when its plan is
        split. A graph without the switch, or an eager step planned for one, may run a whole
        plan through the pair, so those keep the Triton shared part."""
        return (
            self.sm90_shared
            and sm90_inputs_fit(*qkv, logit_cap)
            and (switchable or (self.splits and not torch.cuda.is_current_stream_capturing()))
        )
