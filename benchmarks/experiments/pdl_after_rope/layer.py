"""A server-like decode layer around the decoder, for the experiments that time launch order:
a rotary stand-in writing ``q`` and the new K (a Triton copy out of the fused QKV rows, so the
values stay the batch's and outputs can be compared), the decoder's ``forward(new_kv=...)``,
then an o_proj-like GEMM ``[B, Hq·D] × [Hq·D, 4096]``."""

import dataclasses
from collections.abc import Callable

import torch
import triton
import triton.language as tl
from graph_timing import checked_medians  # benchmarks/ on the path, as the experiments put it
from providers import batch_for, fork_pair, make_decoder, pack_args


@triton.jit
def _rope_stand_in_kernel(qkv, q, k_new, Q_ROW: tl.constexpr, K_ROW: tl.constexpr):
    """One request's q and new-K rows out of its fused QKV row."""
    b = tl.program_id(0)
    row = qkv + b * (Q_ROW + 2 * K_ROW)
    offs_q = tl.arange(0, Q_ROW)
    tl.store(q + b * Q_ROW + offs_q, tl.load(row + offs_q))
    offs_k = tl.arange(0, K_ROW)
    tl.store(k_new + b * K_ROW + offs_k, tl.load(row + Q_ROW + offs_k))


class ServerLayer:
    """The layer's buffers for one batch (``providers.batch_for``); ``fn(attention, out)``
    is one layer, ``attention(q, k_buffer, v_buffer, out, sm_scale, new_kv)`` its middle."""

    def __init__(self, batch) -> None:
        self.batch = batch
        requests, q_heads, head_dim = batch.q.shape
        kv_heads = batch.k.shape[1]
        loc = batch.new_slots()
        self.q_row, self.k_row = q_heads * head_dim, kv_heads * head_dim
        # the fused QKV rows, laid out as a Llama layer's qkv_proj output
        self.qkv = torch.cat(
            [batch.q.reshape(requests, -1), batch.k[loc].reshape(requests, -1),
             batch.v[loc].reshape(requests, -1)], dim=1,
        ).contiguous()  # fmt: skip
        self.q = torch.empty_like(batch.q)
        k_new = torch.empty(requests, kv_heads, head_dim, dtype=batch.k.dtype, device="cuda")
        v_new = self.qkv[:, self.q_row + self.k_row :].view(requests, kv_heads, head_dim)
        self.new_kv = (k_new, v_new, loc)
        self.o_proj = torch.randn(self.q_row, 4096, dtype=batch.q.dtype, device="cuda")
        self.o_proj *= self.q_row**-0.5
        self.hidden = torch.empty(requests, 4096, dtype=batch.q.dtype, device="cuda")

    def fn(self, attention: Callable, out: torch.Tensor) -> Callable[[], None]:
        batch, requests = self.batch, self.batch.q.shape[0]

        def layer() -> None:
            _rope_stand_in_kernel[(requests,)](
                self.qkv, self.q, self.new_kv[0], Q_ROW=self.q_row, K_ROW=self.k_row
            )
            attention(self.q, batch.k, batch.v, out, batch.sm_scale, self.new_kv)
            torch.mm(out.view(requests, -1), self.o_proj, out=self.hidden)

        return layer

    def time_attentions(self, attentions: dict[str, Callable], flush):
        """The layer around each named attention, timed side by side
        (``graph_timing.checked_medians``, every output checked against the first's): the
        median µs by name, the max |difference| by name, and the medians as a line."""
        outs = {name: torch.empty_like(self.batch.q) for name in attentions}
        fns = {name: self.fn(attention, outs[name]) for name, attention in attentions.items()}
        return checked_medians(fns, outs, tuple(attentions), flush)


def split_layer(shape: str):
    """``shape``'s batch (``providers.batch_for``), its layer and a storing decoder with the
    batch planned as for a CUDA graph; None, said, where the gate keeps that plan whole (the
    experiments on the lean pair time split plans only)."""
    batch = batch_for(shape)
    decoder = make_decoder(batch, stores_new_kv=True)
    if not decoder.splits:
        print(f"{shape}: the plan is kept whole; skipped", flush=True)
        return None
    return batch, ServerLayer(batch), decoder


def against_first(medians: dict[str, float], errors: dict[str, float]) -> str:
    """``time_attentions``' medians and differences as text: each later attention's µs less
    the first one's, then its max |difference| from the first one's output."""
    first, *later = medians
    changes = ", ".join(f"{name} {medians[name] - medians[first]:+.2f}" for name in later)
    differences = ", ".join(f"{name} {errors[name]:.1e}" for name in later)
    return f"against {first}: {changes} us; max |difference| {differences}"


def with_variants(shape: str, variants: Callable[[object, object], dict]):
    """``split_layer(shape)``'s batch and layer with its decoders by name: the product's as
    ``"product"``, then those ``variants(batch, stock)`` makes; None where the plan is kept
    whole."""
    split = split_layer(shape)
    if split is None:
        return None
    batch, server, stock = split
    return batch, server, {"product": stock} | variants(batch, stock)


def menu_variants(menus: dict[str, Callable]) -> Callable[[object, object], dict]:
    """``with_variants``' variants: one storing decoder on the batch for each named menu,
    ``menus[name](stock_menu)``."""

    def variants(batch, stock) -> dict:
        return {
            name: make_decoder(batch, menu=menu(stock.menu), stores_new_kv=True)
            for name, menu in menus.items()
        }

    return variants


def lean_build(stages: int = 0, **lean) -> Callable:
    """The product's menu with its private part's ``LeanKernel`` fields ``lean`` replaced, and
    ``stages`` K/V stages for the shared part's tiles (0: the product's)."""

    def menu(stock):
        changed = dataclasses.replace(stock, lean=dataclasses.replace(stock.lean, **lean))
        return dataclasses.replace(changed, num_stages=stages) if stages else changed

    return menu


def print_after_flushes(server, shape: str, attentions: dict, flushes: dict) -> None:
    """``attentions`` timed side by side after each named flush (``time_attentions``), a line
    each: the medians, then each later attention against the first."""
    for flush_name, flush in flushes.items():
        medians, errors, line = server.time_attentions(attentions, flush)
        print(f"{shape} ({flush_name} flush): {line}; {against_first(medians, errors)}", flush=True)


def print_forwards(shape: str, variants: Callable[[object, object], dict], flushes: dict) -> None:
    """Each decoder of ``with_variants(shape, variants)`` as the layer's attention
    (``storing``), timed side by side after each named flush in ``flushes``
    (``print_after_flushes``); nothing where the plan is kept whole."""
    layer = with_variants(shape, variants)
    if layer is not None:
        _, server, decoders = layer
        attentions = {name: storing(decoder) for name, decoder in decoders.items()}
        print_after_flushes(server, shape, attentions, flushes)


def storing(decoder) -> Callable:
    """``decoder.forward`` as the layer's attention, the kernels storing the new K/V."""

    def attention(q, k, v, out, sm_scale: float, new_kv) -> None:
        decoder.forward(q, k, v, out, sm_scale=sm_scale, new_kv=new_kv)

    return attention


def shared_first(decoder) -> Callable:
    """The decoder's forward with its lean pair launched the other way round (the shared part
    first, ``providers.fork_pair``), then its merge, as the layer's attention."""
    from sglang_pat.kernels.launch import merge_states

    def attention(q, k, v, out, sm_scale: float, new_kv) -> None:
        options = dict(menu=decoder.menu, sm_scale=sm_scale, check=False, new_kv=new_kv)
        fork_pair(decoder, pack_args(decoder, q, k, v, out), options, shared_first=True)
        merge_states(
            out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr, check=False
        )

    return attention
