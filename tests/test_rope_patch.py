"""The decode rope handed to pat (``sglang_pat/rope.py``) on the CPU: which rotary embeddings
the kernels reproduce, when the backend takes a layer's rope, and the wrapped Llama forward."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from test_backend import (
    PROMPTS,
    Mode,
    backend,  # noqa: F401  (the fixture, asked for by name below)
    backend_on,
    forward_batch,
    kv_pool,
    layer,
    qkv,
    radix_batch,
)

from sglang_pat import rope as rope_module
from sglang_pat.backend_options import ROPE_ENV, VERIFY_ENV

base = pytest.importorskip("sglang.srt.layers.rotary_embedding.base")
variants = pytest.importorskip("sglang.srt.layers.rotary_embedding.rope_variant")
mrope = pytest.importorskip("sglang.srt.layers.rotary_embedding.mrope")


def rotary(cls=None, *, head_size: int = 128, rotary_dim: int = 128, neox: bool = True):
    """A rotary module as SGLang builds it on a GPU (its cache fp32, its CUDA forward), without
    its constructor, which needs a server's published configuration."""
    module = object.__new__(cls or base.RotaryEmbedding)
    torch.nn.Module.__init__(module)
    module.head_size, module.rotary_dim, module.is_neox_style = head_size, rotary_dim, neox
    module.use_fallback_kernel = False
    module.register_buffer("cos_sin_cache", torch.zeros(16, rotary_dim), persistent=False)
    module._forward_method = module.forward_cuda
    return module


def test_which_rotary_embeddings_the_kernels_take() -> None:
    assert rope_module.unfusable_reason(rotary()) is None
    assert rope_module.unfusable_reason(rotary(variants.Llama3RotaryEmbedding)) is None
    assert "GPT-J" in rope_module.unfusable_reason(rotary(neox=False))
    assert "partial" in rope_module.unfusable_reason(rotary(rotary_dim=64))
    native = rotary()
    native._forward_method = native.forward_native
    assert "another kernel" in rope_module.unfusable_reason(native)
    fallback = rotary()
    fallback.use_fallback_kernel = True
    assert "another kernel" in rope_module.unfusable_reason(fallback)
    half = rotary()
    half.cos_sin_cache = half.cos_sin_cache.half()
    assert "cos_sin_cache" in rope_module.unfusable_reason(half)
    assert "own forward" in rope_module.unfusable_reason(rotary(mrope.MRotaryEmbedding))
    assert "rotary embedding" in rope_module.unfusable_reason(SimpleNamespace())


@pytest.fixture
def plain_pool_step(request, monkeypatch):
    """test_backend's backend on a plain pool (the kernels store the new K/V), the backend of
    the forward context, and a decode step planned on it."""
    pat = backend_on(request.getfixturevalue("backend"), kv_pool(), monkeypatch)
    attn_backends = [pat]  # the last one is the forward context's
    monkeypatch.setattr(rope_module, "current_attn_backend", lambda: attn_backends[-1])
    return pat, decode_step(pat), attn_backends


def decode_step(pat):
    batch = radix_batch(PROMPTS)
    pat.stage_batch(batch)
    fb = forward_batch("DECODE", batch)
    pat.init_forward_metadata(fb)
    return fb


@pytest.mark.parametrize(
    "setting, takes",
    [("plain", True), ("env off", False), ("verify", False), ("sglang stores", False),
     ("sliding layer", False), ("extend", False)],
)  # fmt: skip
def test_when_the_backend_takes_the_rope(setting, takes, request, monkeypatch) -> None:
    if setting == "env off":
        monkeypatch.setenv(ROPE_ENV, "0")
    elif setting == "verify":
        monkeypatch.setenv(VERIFY_ENV, "1")
    if setting == "sglang stores":  # the fixture's pool is no MHATokenToKVPool
        pat = request.getfixturevalue("backend")
        fb = decode_step(pat)
    else:
        pat, fb, _ = request.getfixturevalue("plain_pool_step")
    if setting == "extend":
        fb.forward_mode = Mode("EXTEND")
        pat.init_forward_metadata(fb)
    each = layer(sliding_window_size=128) if setting == "sliding layer" else layer()
    assert pat.takes_rope(each) is takes


def test_the_decoder_gets_the_rope_and_a_layer_pat_cannot_take_raises(plain_pool_step) -> None:
    pat, fb, _ = plain_pool_step
    q, k, v = qkv(4)
    k, v = k.view(4, 2, 64), v.view(4, 2, 64)
    rope = (torch.arange(4), torch.zeros(8, 64))
    pat.forward(q, k, v, layer(), fb, pat_rope=rope)
    assert pat.decoder.ropes == [rope] and pat.decoder.new_kv[0][0] is k
    with pytest.raises(RuntimeError, match="rope"):
        pat.forward(q, k, v, layer(sliding_window_size=128), fb, pat_rope=rope)
    with pytest.raises(RuntimeError, match="rope"):
        pat.forward(q, k, v, layer(), fb, save_kv_cache=False, pat_rope=rope)


class FakeAttn(SimpleNamespace):
    """A RadixAttention stand-in: the layer fields the backend reads, and the call."""

    def __call__(self, q, k, v, forward_batch, **kwargs):
        self.calls.append(("attn", q, k, v, kwargs))
        return torch.zeros(q.shape[0], 8)


class FakeLlamaAttention:
    """The parts of SGLang's LlamaAttention the wrapped forward reads."""

    q_size, kv_size = 8, 4

    def __init__(self, rotary_emb) -> None:
        self.rotary_emb = rotary_emb
        self.calls: list[tuple] = []
        self.attn = FakeAttn(**vars(layer()), calls=self.calls)
        self.qkv_proj = lambda hidden: (hidden * 2, None)
        self.o_proj = lambda out: (out + 1, None)

    def original(self, positions, hidden_states, forward_batch):
        self.calls.append(("original",))
        return "original"


def wrapped_forward(attention: FakeLlamaAttention, positions, hidden, fb):
    forward = rope_module.llama_attention_forward(FakeLlamaAttention.original)
    return forward(attention, positions, hidden, fb)


def test_the_wrapped_llama_forward(plain_pool_step) -> None:
    pat, fb, attn_backends = plain_pool_step
    attention = FakeLlamaAttention(rotary())
    positions, hidden = torch.arange(4) + 40, torch.randn(4, 16)
    out = wrapped_forward(attention, positions, hidden, fb)
    ((name, q, k, v, kwargs),) = attention.calls
    assert name == "attn" and torch.equal(out, torch.ones(4, 8))
    assert torch.equal(torch.cat([q, k, v], dim=-1), hidden * 2)  # unrotated
    rope_positions, cache = kwargs["pat_rope"]
    assert rope_positions is positions and cache is attention.rotary_emb.cos_sin_cache
    # a rope the kernels do not reproduce, a prefill, a backend that is not pat: SGLang's path
    for rotary_emb, mode, attn_backend in (
        (rotary(neox=False), "DECODE", pat),
        (rotary(), "EXTEND", pat),
        (rotary(), "DECODE", object()),
    ):
        attention = FakeLlamaAttention(rotary_emb)
        fb.forward_mode = Mode(mode)
        attn_backends.append(attn_backend)
        assert wrapped_forward(attention, positions, hidden, fb) == "original"
        assert attention.calls == [("original",)]
