"""Test batches in SGLang's layout and the plain PyTorch reference they are checked against."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import torch

from sglang_pat.cost_model import TileMenu, default_tile_menu
from sglang_pat.decoder import PatDecoder
from sglang_pat.forest import PrefixForest
from sglang_pat.lean_gate import LeanGate

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = torch.device("cuda" if torch.cuda.is_available() and not INTERPRET else "cpu")
TOLERANCE = {torch.float32: 2e-3, torch.float16: 2e-2, torch.bfloat16: 4e-2}


@dataclass
class KVBatch:
    """One decode batch: queries, the KV pool and ``req_to_token`` (row 0 is padding)."""

    q: torch.Tensor  # [B, Hq, D]
    k_buffer: torch.Tensor  # [slots, Hkv, D] or [pages, page_size, Hkv, D]
    v_buffer: torch.Tensor
    req_to_token: torch.Tensor  # [rows, max_len] int32
    pool_rows: np.ndarray  # [B] row of each request
    seq_lens: np.ndarray  # [B]


def make_batch(
    forest: PrefixForest,
    *,
    num_q_heads: int,
    num_kv_heads: int,
    head_dim: int,
    dtype: torch.dtype,
    page_size: int = 1,
    paged_view: bool = False,
    seed: int = 0,
    device: torch.device = DEVICE,
) -> KVBatch:
    """Random KV in shuffled pages; members of a shared node hold the same slots for it."""
    rng = np.random.default_rng(seed)
    batch = forest.num_requests
    seq_lens = forest.seq_lens
    shared_end = forest.private_start()
    if page_size > 1 and np.any(forest.node_end % page_size):
        raise ValueError("shared ranges must end on page boundaries")
    pages: dict[tuple, int] = {}
    page_table = np.zeros((batch, int(-(-seq_lens.max() // page_size))), dtype=np.int64)
    for r in range(batch):
        path = []
        node = forest.req_node[r]
        while node >= 0:
            path.append(node)
            node = forest.node_parent[node]
        for j in range(int(-(-seq_lens[r] // page_size))):
            pos = j * page_size
            owner = next(
                (n for n in path if forest.node_start[n] <= pos < forest.node_end[n]), None
            )
            key = ("node", owner, j) if pos < shared_end[r] and owner is not None else ("req", r, j)
            page_table[r, j] = pages.setdefault(key, len(pages))
    num_pages = len(pages) + 1  # page 0 is never handed out, as SGLang's slot 0
    shuffled = rng.permutation(num_pages - 1) + 1
    max_len = int(seq_lens.max())
    req_to_token = np.zeros((batch + 1, max_len), dtype=np.int32)
    positions = np.arange(max_len)
    for r in range(batch):
        pos = positions[: seq_lens[r]]
        req_to_token[r + 1, : seq_lens[r]] = (
            shuffled[page_table[r, pos // page_size]] * page_size + pos % page_size
        )
    gen = torch.Generator().manual_seed(seed)
    shape = (num_pages * page_size, num_kv_heads, head_dim)
    k = torch.randn(shape, generator=gen).to(dtype)
    v = torch.randn(shape, generator=gen).to(dtype)
    q = torch.randn(batch, num_q_heads, head_dim, generator=gen).to(dtype)
    if paged_view:
        k = k.view(num_pages, page_size, num_kv_heads, head_dim)
        v = v.view(num_pages, page_size, num_kv_heads, head_dim)
    return KVBatch(
        q=q.to(device),
        k_buffer=k.to(device),
        v_buffer=v.to(device),
        req_to_token=torch.from_numpy(req_to_token).to(device),
        pool_rows=np.arange(1, batch + 1),
        seq_lens=seq_lens.copy(),
    )


LEAN_MODES = ("gated", "always", "off")


def menu_with_gate(
    head_dim: int, group: int, gate: LeanGate | None, min_graph_batch: int = 1
) -> TileMenu:
    """The default menu with ``gate`` deciding its lean kernel's split (None: every plan with
    shared and private items splits). The tests' batches are small: their graphs capture the
    private-part launch from ``min_graph_batch`` requests (``LeanKernel.min_graph_batch``)."""
    menu = default_tile_menu(head_dim, group)
    if menu.lean is None:
        raise ValueError(f"head_dim {head_dim}: the default menu has no lean kernel")
    lean = dataclasses.replace(menu.lean, gate=gate, min_graph_batch=min_graph_batch)
    return dataclasses.replace(menu, lean=lean)


def tile_menu(head_dim: int, group: int, lean: str = "gated") -> TileMenu:
    """The default menu with its lean kernel ``"gated"`` per plan (the product), forced on every
    plan that has shared and private items (``"always"``: the split path whatever the gate
    says), or ``"off"`` (one launch of the pack kernel's all-items build)."""
    if lean not in LEAN_MODES:
        raise ValueError(f"lean must be one of {LEAN_MODES}, got {lean!r}")
    if lean == "always" and head_dim <= 128:
        return menu_with_gate(head_dim, group, None)
    return default_tile_menu(head_dim, group, lean=lean != "off")


def decoder_for(kv: KVBatch, *, max_requests: int, max_kv_indices: int, **options) -> PatDecoder:
    """A PatDecoder on DEVICE for the heads, head_dim and KV dtype of ``kv``."""
    return PatDecoder(
        num_q_heads=kv.q.shape[1],
        num_kv_heads=kv.k_buffer.shape[-2],
        head_dim=kv.q.shape[2],
        device=DEVICE,
        max_requests=max_requests,
        max_kv_indices=max_kv_indices,
        kv_dtype=kv.k_buffer.dtype,
        **options,
    )


def reference_decode(kv: KVBatch, sm_scale: float, logit_cap: float = 0.0) -> torch.Tensor:
    """Plain attention per request over its ``req_to_token`` row, in fp32, on the buffers'
    device. On the CPU, the GPU tests' references (up to 64 requests × 4,608 keys, in a dozen
    xdist processes at once) took 40-75 s a test while the GPU idled."""
    assert not torch.backends.cuda.matmul.allow_tf32, "the reference must run in full fp32"
    num_q_heads = kv.q.shape[1]
    k_all = kv.k_buffer.reshape(-1, *kv.k_buffer.shape[-2:]).float()
    v_all = kv.v_buffer.reshape(-1, *kv.v_buffer.shape[-2:]).float()
    q_all = kv.q.float()
    req_to_token = kv.req_to_token
    group = num_q_heads // k_all.shape[1]
    out = torch.empty(
        kv.q.shape[0], num_q_heads, v_all.shape[-1], dtype=torch.float32, device=kv.q.device
    )
    for b in range(kv.q.shape[0]):
        slots = req_to_token[kv.pool_rows[b], : kv.seq_lens[b]].long()
        keys = k_all[slots].repeat_interleave(group, dim=1)  # [L, Hq, D]
        values = v_all[slots].repeat_interleave(group, dim=1)
        scores = torch.einsum("hd,lhd->hl", q_all[b], keys) * sm_scale
        if logit_cap > 0:
            scores = logit_cap * torch.tanh(scores / logit_cap)
        out[b] = torch.einsum("hl,lhd->hd", scores.softmax(-1), values)
    return out


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    """Compare with the dtype's tolerance; print the first mismatching indices on failure."""
    actual = actual.float().cpu()
    expected = expected.float().cpu()
    tol = TOLERANCE[dtype]
    bad = ~torch.isclose(actual, expected, atol=tol, rtol=tol)
    if bad.any():
        idx = bad.nonzero()[:5].tolist()
        got = [actual[tuple(i)].item() for i in idx]
        want = [expected[tuple(i)].item() for i in idx]
        raise AssertionError(
            f"{int(bad.sum())} of {bad.numel()} mismatch (tol {tol}); first at {idx}: "
            f"{got} vs {want}"
        )


NEW_KV_GARBAGE = 1e4  # left in the new slots: a store the kernels miss shows in the output


def take_new_kv(
    kv: KVBatch, k_buffer: torch.Tensor | None = None, v_buffer: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each request's last slot (its new token's) in ``k_buffer`` / ``v_buffer`` (default
    ``kv``'s): its K/V moved out into ``(k_new, v_new, new_loc)``, garbage left in its place,
    as the pool holds it before the kernels store the new K/V."""
    k_buffer = kv.k_buffer if k_buffer is None else k_buffer
    v_buffer = kv.v_buffer if v_buffer is None else v_buffer
    rows = torch.as_tensor(kv.pool_rows, device=kv.req_to_token.device)
    last = torch.as_tensor(kv.seq_lens - 1, device=kv.req_to_token.device)
    new_loc = kv.req_to_token[rows, last].long()
    k_flat = k_buffer.view(-1, *k_buffer.shape[-2:])
    v_flat = v_buffer.view(-1, *v_buffer.shape[-2:])
    k_new, v_new = k_flat[new_loc].clone(), v_flat[new_loc].clone()
    k_flat[new_loc] = NEW_KV_GARBAGE
    v_flat[new_loc] = NEW_KV_GARBAGE
    return k_new, v_new, new_loc
