"""PatAttnBackend: SGLang's triton backend with decode through PAT's pack plan.

Per step, outside any CUDA graph: the ``ForwardBatch.init_new`` patch stages the batch's
PrefixForest (built from the radix tree, see ``radix.py``) with ``stage_batch``; the metadata
hook (``init_forward_metadata`` eager, ``init_forward_metadata_out_graph`` before capture and
every replay) plans and uploads; a replay of a graph that pat decodes skips triton's decode
metadata, which nothing in it reads. Per layer, ``forward_decode`` launches the fixed-grid kernels
only; they write the new K/V themselves where the pool allows (``backend_options.store_reason``),
else SGLang's store does first. Prefill, extend, idle and speculative batches, and any layer or
configuration the kernels do not cover (``backend_options.unsupported_reason``), go to
``TritonAttnBackend`` unchanged.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np
import torch
from sglang.srt.layers.attention.triton_backend import TritonAttnBackend, logit_capping_mod
from sglang.srt.mem_cache.memory_pool import KVWriteLoc

from .backend_options import (
    FINE_ENV,
    RETIRED_FORMS_ENV,
    SM90_ENV,
    SWITCH_ENV,
    VERIFY_ENV,
    env_flag,
    lean_kernel_wanted,
    store_reason,
    unsupported_reason,
)
from .cost_model import default_tile_menu
from .decoder import SERVER_MAX_PARTIALS, PatDecoder
from .forest import PrefixForest
from .graph_switch import make_per_form
from .plan import PlanCapacityError
from .radix import RadixForestBuilder
from .step_reports import PlanTimes, TritonGap
from .warm_planner import warm_compiled_planner
from .warm_prefill import warm_flashinfer_merge

logger = logging.getLogger(__name__)


class PatAttnBackend(TritonAttnBackend):
    """Triton backend whose decode reads each shared KV segment once (see module docstring)."""

    def __init__(self, model_runner: Any, skip_prefill: bool = False, kv_indptr_buf=None):
        super().__init__(model_runner, skip_prefill, kv_indptr_buf)
        self.unsupported = unsupported_reason(self, model_runner)
        self.decoder: PatDecoder | None = None
        self._staged: tuple[tuple[str, ...], PrefixForest, np.ndarray] | None = None
        self._pat_step = False
        self._triton_decodes_layers = False  # see _graph_reads_pat_only
        self._missing_forest_logged = False
        self._forests = RadixForestBuilder()
        self._plan_times = PlanTimes()
        self._stage_seconds = 0.0
        self._unstaged_steps = 0  # decode steps planned all-private for want of a forest
        self._verify = os.environ.get(VERIFY_ENV, "0") not in ("", "0")
        self._triton_gap = TritonGap(self.device)  # read in verification mode only
        prefill_backend, _ = model_runner.server_args.get_attention_backends()
        merge_seconds = warm_flashinfer_merge(prefill_backend)
        if merge_seconds is not None:  # before /health, not in the first prefix-hit prefill
            logger.info("pat: FlashInfer's merge_state module ready in %.2f s", merge_seconds)
        if self.unsupported:
            logger.warning("pat: %s is not supported; triton decodes it", self.unsupported)
            return
        max_requests = model_runner.req_to_token_pool.size
        sm90_shared = env_flag(SM90_ENV, "0")
        self.store_reason = store_reason(self, model_runner)
        # Any batch, read privately, fits in one int32 copy of req_to_token (Σ seq_lens can
        # never exceed it). Partials get a fixed budget (16 KiB each at 32 heads × 128);
        # a plan needing more falls back to the all-private plan.
        self.decoder = PatDecoder(
            num_q_heads=self.num_head,
            num_kv_heads=self.num_kv_head,
            head_dim=model_runner.model_config.head_dim,
            device=self.device,
            max_requests=max_requests,
            max_kv_indices=model_runner.req_to_token_pool.req_to_token.numel(),
            kv_dtype=model_runner.kv_cache_dtype,
            max_partials=SERVER_MAX_PARTIALS,
            sm90_shared=sm90_shared,
            stores_new_kv=self.store_reason is None,
            menu=default_tile_menu(
                model_runner.model_config.head_dim,
                self.num_head // self.num_kv_head,
                lean=lean_kernel_wanted(),
            ),
        )
        self._out = torch.empty(
            max_requests,
            self.num_head,
            self.v_head_dim,
            dtype=model_runner.dtype,
            device=self.device,
        )
        self.decoder.scheduler.fine_private_chunks = env_flag(FINE_ENV, "1")
        warm_compiled_planner()  # not inside the first served step that shares a prefix
        switchable = self.decoder.menu.lean is not None and env_flag(SWITCH_ENV, "1")
        if switchable:
            make_per_form(self.decoder)
        if RETIRED_FORMS_ENV in os.environ:  # a server script of sessions 80-81
            logger.warning(
                "pat: %s is no longer read (the node switch was retired in session 82): the "
                "switch captures a graph a form; %s=0 turns it off",
                RETIRED_FORMS_ENV,
                SWITCH_ENV,
            )
        logger.info("pat: decode through the pack plan (%s)", self.decoder.menu)
        if self.store_reason:
            logger.info("pat: SGLang stores the new K/V (%s)", self.store_reason)
        if self.decoder.sm90_shared_reason:
            logger.warning("pat: %s=1 ignored: %s", SM90_ENV, self.decoder.sm90_shared_reason)
        elif self.decoder.sm90_shared and not switchable:
            logger.warning(
                "pat: %s=1 with %s=0: a graph runs every plan split, the ones the lean gate keeps "
                "whole too (up to 21%% slower on batches without sharing; session 77's "
                "benchmarks/experiments/sm90_split_pair)",
                SM90_ENV,
                SWITCH_ENV,
            )
        if self._verify:
            logger.warning(
                "pat: %s is set: triton re-runs every decode layer to check PAT", VERIFY_ENV
            )

    # ------------------------------------------------------------------ per step

    def stage_batch(self, batch: Any) -> None:
        """Build and keep the decode batch's forest (called from ForwardBatch.init_new)."""
        self._staged = None
        start = time.perf_counter()
        tree = batch.tree_cache
        root = getattr(tree, "root_node", None)
        if self.decoder is None or root is None or getattr(tree, "disable", False):
            return
        forest = self._forests.build(
            [req.last_node for req in batch.reqs], root, batch.seq_lens_cpu.numpy()
        )
        rids = tuple(req.rid for req in batch.reqs)
        self._staged = (rids, forest, batch.req_pool_indices_cpu.numpy())
        self._stage_seconds = time.perf_counter() - start

    def _take_forest(self, forward_batch: Any) -> tuple[PrefixForest, np.ndarray, bool]:
        """The staged forest if it is this batch's, else an all-private one (warmup, capture);
        and whether it was the staged one."""
        staged, self._staged = self._staged, None
        rids = getattr(forward_batch, "rids", None)
        if staged is not None and (rids is None or tuple(rids) == staged[0]):
            return staged[1], staged[2], True
        self._unstaged_steps += 1
        if not self._missing_forest_logged and rids:
            logger.warning("pat: no prefix forest staged for a decode batch; reading privately")
            self._missing_forest_logged = True
        bs = forward_batch.batch_size
        seq_lens = forward_batch.seq_lens_cpu
        seq_lens = seq_lens[:bs].numpy() if seq_lens is not None else np.ones(bs, np.int64)
        pool_rows = forward_batch.req_pool_indices[:bs].cpu().numpy()  # warmup/capture only
        private = PrefixForest.no_sharing(np.maximum(seq_lens, 1))
        return private, pool_rows, False

    def _plan(self, forward_batch: Any, for_graph: bool) -> None:
        self._pat_step = False
        if self.decoder is None or forward_batch.spec_info is not None:
            return
        if not forward_batch.forward_mode.is_decode():
            return
        start = time.perf_counter()
        forest, pool_rows, staged = self._take_forest(forward_batch)
        try:
            self.decoder.plan_step(
                forest,
                pool_rows,
                self.req_to_token,
                for_graph=for_graph,
                graph_batch=forward_batch.batch_size,  # the graph's, padded rows included
            )
        except PlanCapacityError:
            if for_graph:
                raise  # a captured batch always fits (see __init__): this is a bug
            logger.warning(
                "pat: batch of %d exceeds PAT's buffers; triton decodes it",
                forward_batch.batch_size,
            )
            return
        self._pat_step = True
        if staged:  # served steps only: warmup and capture plan for dummy batches
            self._plan_times.record(
                time.perf_counter() - start + self._stage_seconds,
                forward_batch.batch_size,
                self._unstaged_steps,
                self.decoder.graph_switches,
            )
        self._stage_seconds = 0.0
        if self._verify:
            self._triton_gap.start_step(len(forest.seq_lens), staged)

    def init_forward_metadata(self, forward_batch: Any) -> None:
        super().init_forward_metadata(forward_batch)
        self._plan(forward_batch, for_graph=False)

    def init_forward_metadata_out_graph(self, forward_batch: Any, in_capture: bool = False):
        # Planned first (nothing in it reads triton's metadata): a replay of a pat step then
        # refills triton's metadata only where the graph may read it.
        self._plan(forward_batch, for_graph=True)
        if in_capture or not (self._pat_step and self._graph_reads_pat_only()):
            super().init_forward_metadata_out_graph(forward_batch, in_capture)

    def _graph_reads_pat_only(self) -> bool:
        """Whether a graph replaying a pat step reads none of triton's decode metadata, so
        that refilling it can be skipped: its KV indices over every request's whole length, their
        cumsum and split counts are 4 kernels and ~12 µs a step on the H200 at 128 requests of
        ~4,300 tokens (session 45's profile). True when every captured layer decoded through
        pat (``_triton_decodes_layers``), triton's write-location helpers have nothing to fill
        (no unified or sliding-window KV pool) and verification mode, which runs triton's
        decode in the graph, is off."""
        return (
            not self._verify
            and not self._triton_decodes_layers
            and self._translate_kv_loc is None
            and not self.use_sliding_window_kv_pool
        )

    # ------------------------------------------------------------------ per layer

    def forward_decode(
        self,
        q,
        k,
        v,
        layer,
        forward_batch,
        save_kv_cache=True,
        sinks=None,
        score_mod=None,
        aux_tensors=None,
    ):
        if (
            not self._pat_step
            or sinks is not None
            or score_mod is not None
            or layer.xai_temperature_len > 0
            or (layer.sliding_window_size is not None and layer.sliding_window_size > -1)
        ):
            # A decode layer of a pat step that triton takes: graphs captured with it read
            # triton's metadata, which every replay must then refill.
            self._triton_decodes_layers |= self._pat_step
            return super().forward_decode(
                q, k, v, layer, forward_batch, save_kv_cache, sinks, score_mod, aux_tensors
            )
        new_kv = None
        if save_kv_cache and self.decoder.stores_new_kv:
            new_kv = (k, v, forward_batch.out_cache_loc)  # [B, Hkv, D] views (RadixAttention)
        elif save_kv_cache:
            location = KVWriteLoc(
                forward_batch.out_cache_loc,
                self.forward_metadata.swa_out_cache_loc,
                full_loc=self.forward_metadata.out_cache_loc_full_physical,
            )
            self._set_kv_buffer(forward_batch, layer, location, k, v, layer.k_scale, layer.v_scale)
        q_heads = q.view(-1, layer.tp_q_head_num, layer.qk_head_dim)
        out = self._out[: q_heads.shape[0]]
        self.decoder.forward(
            q_heads,
            self.token_to_kv_pool.get_key_buffer(layer.layer_id),
            self.token_to_kv_pool.get_value_buffer(layer.layer_id),
            out,
            sm_scale=layer.scaling,
            logit_cap=logit_capping_mod(layer.logit_capping_method, layer.logit_cap),
            new_kv=new_kv,
        )
        out = out.view(-1, layer.tp_q_head_num * layer.v_head_dim)
        if self._verify:
            self._compare_with_triton(q, k, v, layer, forward_batch, out)
        return out

    def _compare_with_triton(self, q, k, v, layer, forward_batch, out: torch.Tensor) -> None:
        """Verification mode: triton's decode on the same inputs, its gap to ``out`` kept on
        the device (``TritonGap``)."""
        ref = super().forward_decode(q, k, v, layer, forward_batch, save_kv_cache=False)
        self._triton_gap.compare(out, ref)
