"""The pack kernels writing the layer's new K/V themselves (``PatDecoder(stores_new_kv=True)``,
``forward(new_kv=...)``): the unit that reads a request's new slot stores it first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import (
    DEVICE,
    KVBatch,
    assert_close,
    decoder_for,
    make_batch,
    reference_decode,
    take_new_kv,
)
from helpers import tile_menu as menu_for
from test_kernels import SHARING, paged_batch

from sglang_pat.forest import PrefixForest


def storing_decoder(
    forest: PrefixForest,
    kv: KVBatch,
    *,
    lean: str = "off",
    num_sms: int = 3,
    min_chunk: int = 16,
    for_graph: bool = False,
):
    """A decoder built with ``stores_new_kv`` for ``kv``, its step planned."""
    d, group = kv.q.shape[2], kv.q.shape[1] // kv.k_buffer.shape[-2]
    decoder = decoder_for(
        kv,
        max_requests=forest.num_requests,
        max_kv_indices=int(forest.seq_lens.sum()),
        num_sms=num_sms,
        cost=SHARING,
        menu=menu_for(d, group, lean),
        stores_new_kv=True,
    )
    decoder.scheduler.min_chunk_tokens = min_chunk
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=for_graph)
    return decoder


def decode_storing(
    forest: PrefixForest, kv: KVBatch, **options
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, object]:
    """One decode of ``kv`` whose new tokens' K/V the kernels store (``options``: as
    ``storing_decoder``'s): (output, reference on the intact buffers, buffers before the call,
    decoder)."""
    d = kv.q.shape[2]
    expected = reference_decode(kv, d**-0.5)
    intact = (kv.k_buffer.clone(), kv.v_buffer.clone())
    new_kv = take_new_kv(kv)
    decoder = storing_decoder(forest, kv, **options)
    out = torch.full_like(kv.q, float("nan"))
    decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=d**-0.5, new_kv=new_kv)
    return out, expected, intact, decoder


def assert_buffers_equal(kv: KVBatch, intact: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Every slot as before the new tokens were taken out: the new ones stored, no other
    slot written."""
    assert torch.equal(kv.k_buffer, intact[0]) and torch.equal(kv.v_buffer, intact[1])


# The plans as storing_decoder makes them (checked in test_the_trees_make_their_plans)
TREES = {
    "no-sharing": "4_97",  # one packed-tails item
    "no-sharing-chunked": "2_600",  # one-request items, three chunks a tail
    "packed-tails": "1,6_64,9",
    "wide-fanout": "1,24_48,1",  # one-token tails: the new token alone
    "several-roots": "2,4,8_32,16,7",
    "split-tails": "1,2_32,600",  # tails cut into five chunks: only the last one stores
}


@pytest.mark.parametrize("lean", ["off", "always"])
@pytest.mark.parametrize("tree", TREES.values(), ids=TREES.keys())
def test_units_store_the_new_tokens_they_read(tree: str, lean: str) -> None:
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    out, expected, intact, _ = decode_storing(forest, kv, lean=lean)
    assert_buffers_equal(kv, intact)
    assert_close(out, expected, torch.float16)


def test_the_trees_make_their_plans() -> None:
    """The trees above cover each kind of unit: packed tails, and tails cut into chunks whose
    earlier chunks read the request's slots but must not store (their last slot is not the
    new one)."""
    chunks_a_tail = {}
    for name in ("no-sharing", "no-sharing-chunked", "split-tails"):
        forest = PrefixForest.from_tree_spec(TREES[name])
        kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
        decoder = storing_decoder(forest, kv)
        private = decoder.plan.items[decoder.plan.num_shared_items :]
        chunk = private[:, 4]
        chunks_a_tail[name] = (int((chunk < 0).sum()), int(chunk.max()) + 1)
    assert chunks_a_tail == {
        "no-sharing": (1, 0),
        "no-sharing-chunked": (0, 3),
        "split-tails": (0, 5),
    }


@pytest.mark.parametrize("paged_view", [False, True], ids=["3d", "4d"])
def test_pages_of_16(paged_view: bool) -> None:
    forest, kv = paged_batch(16, paged_view)
    out, expected, intact, _ = decode_storing(forest, kv)
    assert_buffers_equal(kv, intact)
    assert_close(out, expected, torch.float16)


def test_a_new_token_in_a_shared_node_reads_privately() -> None:
    """Two identical requests: their last token ends a shared node (never so in a server), so
    no unit of their own would store it; the step is planned all-private instead."""
    forest = PrefixForest.from_token_ids([[1] * 40, [1] * 40, [1] * 20 + [2] * 5])
    assert np.any(forest.seq_lens <= forest.private_start())
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    # make_batch gives the two identical requests one set of slots: one new slot for both
    out, expected, intact, decoder = decode_storing(forest, kv)
    assert decoder.shared_tail_fallbacks == 1 and decoder.plan.num_shared_items == 0
    assert_buffers_equal(kv, intact)
    assert_close(out, expected, torch.float16)


def test_lazy_steps_store_each_new_token() -> None:
    """Three steps, each request a token longer (lazy updates of the first plan): each step's
    new token is stored where its unit reads it."""
    forest = PrefixForest.from_tree_spec("1,6_64,9")
    lengths = forest.seq_lens + 2
    long_forest = forest.with_seq_lens(lengths)
    full = make_batch(long_forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(
        full,
        max_requests=8,
        max_kv_indices=int(lengths.sum()),
        num_sms=3,
        cost=SHARING,
        menu=menu_for(64, 4, "off"),
        stores_new_kv=True,
    )
    decoder.scheduler.min_chunk_tokens = 16
    for extra in (2, 1, 0):  # the steps' lengths: forest's, + 1, + 2
        seq_lens = lengths - extra
        kv = KVBatch(
            q=full.q,
            k_buffer=full.k_buffer,
            v_buffer=full.v_buffer,
            req_to_token=full.req_to_token,
            pool_rows=full.pool_rows,
            seq_lens=seq_lens,
        )
        expected = reference_decode(kv, 0.125)
        intact = (kv.k_buffer.clone(), kv.v_buffer.clone())
        new_kv = take_new_kv(kv)
        decoder.plan_step(forest.with_seq_lens(seq_lens), kv.pool_rows, kv.req_to_token)
        assert decoder.scheduler.last_plan_was_lazy == (extra < 2)
        out = torch.full_like(kv.q, float("nan"))
        decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125, new_kv=new_kv)
        assert_buffers_equal(kv, intact)
        assert_close(out, expected, torch.float16)


def test_bad_new_kv_names_the_argument() -> None:
    forest = PrefixForest.from_tree_spec("1,3_32,5")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    k_new, v_new, new_loc = take_new_kv(kv)
    cases = {
        "k_new": (k_new.float(), v_new, new_loc),
        "v_new": (k_new, v_new[:, :, :32], new_loc),
        "new_loc": (k_new, v_new, new_loc.float()),
    }
    for name, new_kv in cases.items():
        with pytest.raises(ValueError, match=name):
            decode_with(forest, kv, new_kv, stores_new_kv=True)
    with pytest.raises(ValueError, match="stores_new_kv"):
        decode_with(forest, kv, (k_new, v_new, new_loc), stores_new_kv=False)


def decode_with(forest: PrefixForest, kv: KVBatch, new_kv: tuple, *, stores_new_kv: bool):
    decoder = decoder_for(
        kv, max_requests=4, max_kv_indices=256, num_sms=2, stores_new_kv=stores_new_kv
    )
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    out = torch.empty_like(kv.q)
    decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125, new_kv=new_kv)


@pytest.mark.skipif(DEVICE.type != "cuda", reason="bf16 and the side stream need CUDA")
@pytest.mark.parametrize("lean", ["off", "always", "gated"])
@pytest.mark.parametrize("tree", ["1,32_1024,40", "4,128_512,200", "64_300", "1,64_512,600"])
def test_bf16_on_the_gpu(tree: str, lean: str) -> None:
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(forest, num_q_heads=32, num_kv_heads=8, head_dim=128, dtype=torch.bfloat16)
    out, expected, intact, _ = decode_storing(
        forest, kv, lean=lean, num_sms=torch.cuda.get_device_properties(0).multi_processor_count,
        min_chunk=256, for_graph=lean != "off",
    )  # fmt: skip
    torch.cuda.synchronize()
    assert_buffers_equal(kv, intact)
    assert_close(out, expected, torch.bfloat16)
