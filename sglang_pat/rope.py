"""The rotary embedding of a decode layer inside the pack kernels.

SGLang's Llama attention rotates q and k with its rope kernel, then calls attention. In a pat
decode step that kernel and its launch gap are about 2.7 µs of every layer (session 60's
server trace: 2.2 µs of kernel at batch 128), while the pack kernels read Q and store the new
K anyway. ``LlamaAttention.forward`` is wrapped (``patches``) so that where the pat backend
takes the layer's decode with the rope (``PatAttnBackend.takes_rope``: a pat step, the kernels
storing the new K/V, no verification), the layer gives attention its q and k unrotated with
``pat_rope=(positions, cos_sin_cache)``. Each pack unit then rotates its Q rows and the new K
it stores with SGLang's arithmetic (``kernels/rows.py``, ``_rope_rows``). Elsewhere, and for
rotary embeddings the kernels do not reproduce (``unfusable_reason``), the original forward
runs.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

logger = logging.getLogger(__name__)
_REASON = "_sglang_pat_rope_reason"  # kept on each rotary module: checked once


def unfusable_reason(rotary_emb: Any) -> str | None:
    """Why the kernels cannot apply this rotary embedding as SGLang would, or None: they read
    its fp32 cos | sin cache by position and rotate NeoX pairs over the whole head."""
    from sglang.srt.layers.rotary_embedding.base import RotaryEmbedding

    if not isinstance(rotary_emb, RotaryEmbedding):
        return f"rotary embedding {type(rotary_emb).__name__}"
    if type(rotary_emb).forward_cuda is not RotaryEmbedding.forward_cuda:
        return f"{type(rotary_emb).__name__} has its own forward"
    if rotary_emb._forward_method != rotary_emb.forward_cuda or rotary_emb.use_fallback_kernel:
        return "SGLang's rope runs another kernel here"
    if not rotary_emb.is_neox_style:
        return "GPT-J (interleaved) rope"
    if rotary_emb.rotary_dim != rotary_emb.head_size:
        return f"partial rope ({rotary_emb.rotary_dim} of {rotary_emb.head_size} dims)"
    if rotary_emb.cos_sin_cache.dtype != torch.float32:
        return f"cos_sin_cache in {rotary_emb.cos_sin_cache.dtype}"
    return None


def decode_rope(
    attention: Any, positions: torch.Tensor, forward_batch: Any
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(positions, cos_sin_cache)`` where the pat backend rotates this decode layer's q and
    k itself, else None (the layer then runs its own rope)."""
    from .patches import find_pat_backend

    if not forward_batch.forward_mode.is_decode():
        return None
    backend = find_pat_backend(current_attn_backend())
    if backend is None or not backend.takes_rope(attention.attn):
        return None
    rotary_emb = attention.rotary_emb
    reason = getattr(rotary_emb, _REASON, "unchecked")
    if reason == "unchecked":
        reason = unfusable_reason(rotary_emb)
        setattr(rotary_emb, _REASON, reason)
        if reason is not None:
            logger.info("pat: the model's rope stays in its own kernel: %s", reason)
    return None if reason is not None else (positions, rotary_emb.cos_sin_cache)


def current_attn_backend() -> Any:
    """The backend RadixAttention calls in this forward (SGLang's forward context)."""
    from sglang.srt.model_executor.forward_context import get_attn_backend

    return get_attn_backend()


def llama_attention_forward(original: Any) -> Any:
    """``LlamaAttention.forward`` with the decode rope handed to pat where it takes it."""

    def forward(self, positions, hidden_states, forward_batch):
        rope = decode_rope(self, positions, forward_batch)
        if rope is None:
            return original(self, positions, hidden_states, forward_batch)
        qkv, _ = self.qkv_proj(hidden_states)
        q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        attn_output = self.attn(q, k, v, forward_batch, pat_rope=rope)
        output, _ = self.o_proj(attn_output)
        return output

    forward._sglang_pat = True
    forward.__wrapped__ = original
    return forward
