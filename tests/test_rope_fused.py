"""The rotary embedding in the pack kernels (``forward(new_kv=..., rope=...)``): Q and the new
K arrive as the QKV projection wrote them; every unit rotates its Q rows and the new K it
stores, as SGLang's rope kernel would have before attention."""

from __future__ import annotations

import pytest
import torch
from helpers import DEVICE, KVBatch, assert_close, make_batch, reference_decode, take_new_kv
from test_new_kv_store import TREES, storing_decoder

from sglang_pat.forest import PrefixForest


def cos_sin_cache(max_position: int, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """``[max_position, head_dim]`` fp32 cos | sin, as SGLang's ``RotaryEmbedding`` builds it."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))
    freqs = torch.outer(torch.arange(max_position, dtype=torch.float), inv_freq)
    return torch.cat((freqs.cos(), freqs.sin()), dim=-1).to(DEVICE)


def rope_reference(x: torch.Tensor, positions: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
    """NeoX rotary embedding of ``x [B, heads, D]`` at ``positions [B]``: SGLang's arithmetic
    (fp32, rounded once to ``x``'s dtype)."""
    half = x.shape[-1] // 2
    cos, sin = cache[positions.long()][:, None, :half], cache[positions.long()][:, None, half:]
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).to(x.dtype)


def decode_with_rope(
    forest: PrefixForest, kv: KVBatch, **options
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One decode whose ``kv.q`` and new K are unrotated (``options``: as
    ``storing_decoder``'s): (output, reference output, the buffers the reference reads)."""
    d = kv.q.shape[2]
    # positions far apart and past the lengths, so that every row turns by its own angles
    positions = torch.as_tensor(kv.seq_lens - 1, device=DEVICE) * 7 + 3
    cache = cos_sin_cache(int(positions.max()) + 1, d)
    k_new, v_new, new_loc = take_new_kv(kv)
    rotated = (kv.k_buffer.clone(), kv.v_buffer.clone())
    rotated[0].view(-1, *kv.k_buffer.shape[-2:])[new_loc] = rope_reference(k_new, positions, cache)
    rotated[1].view(-1, *kv.v_buffer.shape[-2:])[new_loc] = v_new
    reference = KVBatch(
        q=rope_reference(kv.q, positions, cache),
        k_buffer=rotated[0],
        v_buffer=rotated[1],
        req_to_token=kv.req_to_token,
        pool_rows=kv.pool_rows,
        seq_lens=kv.seq_lens,
    )
    expected = reference_decode(reference, d**-0.5)
    decoder = storing_decoder(forest, kv, **options)
    out = torch.full_like(kv.q, float("nan"))
    decoder.forward(
        kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=d**-0.5, new_kv=(k_new, v_new, new_loc),
        rope=(positions, cache),
    )  # fmt: skip
    return out, expected, rotated


@pytest.mark.parametrize("lean", ["off", "always"])
@pytest.mark.parametrize("tree", TREES.values(), ids=TREES.keys())
def test_units_rotate_q_and_the_new_k(tree: str, lean: str) -> None:
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    out, expected, rotated = decode_with_rope(forest, kv, lean=lean)
    # the new K stored with the reference's rounding, every other slot untouched
    assert torch.equal(kv.k_buffer, rotated[0]) and torch.equal(kv.v_buffer, rotated[1])
    assert_close(out, expected, torch.float16)


def test_head_dim_128_fp32() -> None:
    forest = PrefixForest.from_tree_spec("2,6_40,11")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=128, dtype=torch.float32)
    out, expected, rotated = decode_with_rope(forest, kv)
    assert torch.allclose(kv.k_buffer, rotated[0], rtol=1e-6, atol=1e-6)
    assert torch.equal(kv.v_buffer, rotated[1])
    assert_close(out, expected, torch.float32)


def test_bad_rope_names_the_argument() -> None:
    forest = PrefixForest.from_tree_spec("1,3_32,5")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    new_kv = take_new_kv(kv)
    positions = torch.zeros(3, dtype=torch.int64, device=DEVICE)
    cache = cos_sin_cache(8, 64)
    cases = {
        "positions": (positions.float(), cache),
        "cos_sin_cache": (positions, cache.half()),
    }
    for name, rope in {**cases, "cos_sin_cache ": (positions, cache[:, :32])}.items():
        decoder = storing_decoder(forest, kv)
        out = torch.empty_like(kv.q)
        with pytest.raises(ValueError, match=name.strip()):
            decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125, new_kv=new_kv,
                            rope=rope)  # fmt: skip
    decoder = storing_decoder(forest, kv)
    with pytest.raises(ValueError, match="needs new_kv"):
        decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, torch.empty_like(kv.q), sm_scale=0.125,
                        rope=(positions, cache))  # fmt: skip


@pytest.mark.skipif(DEVICE.type != "cuda", reason="bf16 and SGLang's rope kernel need CUDA")
@pytest.mark.parametrize("lean", ["off", "always", "gated"])
@pytest.mark.parametrize("tree", ["4,128_512,200", "1,32_1024,40", "64_300", "1,64_512,600"])
def test_bf16_equals_sglangs_rope_then_the_kernels_on_the_gpu(tree: str, lean: str) -> None:
    """The rope in the kernels against SGLang's own rope kernel before them, bit for bit: the
    stored K, every other slot and the output."""
    rope_ops = pytest.importorskip("sglang.kernels.ops.attention.rope")
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(forest, num_q_heads=32, num_kv_heads=8, head_dim=128, dtype=torch.bfloat16)
    positions = torch.as_tensor(kv.seq_lens - 1, device=DEVICE) * 31 + 5
    cache = cos_sin_cache(int(positions.max()) + 1, 128, base=500000.0)
    k_new, v_new, new_loc = take_new_kv(kv)
    q_rotated, k_rotated = kv.q.clone(), k_new.clone()
    rope_ops.apply_rope_with_cos_sin_cache_inplace(
        q=q_rotated, k=k_rotated, cos_sin_cache=cache, positions=positions, is_neox=True
    )
    options = dict(
        lean=lean, num_sms=torch.cuda.get_device_properties(0).multi_processor_count,
        min_chunk=256, for_graph=lean != "off",
    )  # fmt: skip
    outputs, buffers = [], []
    for q, new_kv, rope in (
        (q_rotated, (k_rotated, v_new, new_loc), None),
        (kv.q, (k_new, v_new, new_loc), (positions, cache)),
    ):
        k_buffer, v_buffer = kv.k_buffer.clone(), kv.v_buffer.clone()
        decoder = storing_decoder(forest, kv, **options)
        out = torch.full_like(kv.q, float("nan"))
        decoder.forward(q, k_buffer, v_buffer, out, sm_scale=128**-0.5, new_kv=new_kv, rope=rope)
        outputs.append(out)
        buffers.append((k_buffer, v_buffer))
    torch.cuda.synchronize()
    assert torch.equal(buffers[0][0], buffers[1][0]) and torch.equal(buffers[0][1], buffers[1][1])
    assert torch.equal(outputs[0], outputs[1])
