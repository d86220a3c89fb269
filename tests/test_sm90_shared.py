"""The lean pair's sm90 shared part (kernels/shared_part_sm90.py): where the decoder runs it
(CPU), and its outputs against SGLang's triton decode, eager and in CUDA graphs (an H100/H200:
Gluon has no interpreter)."""

from __future__ import annotations

import pytest
import torch
from helpers import DEVICE, assert_close, decoder_for, make_batch, reference_decode, tile_menu
from sglang_pat.kernels.launch_sm90 import (
    shared_part_sm90,
    sm90_inputs_fit,
    sm90_unsupported_reason,
)
from test_kernels_gpu import replay_plans, sglang_triton_decode

from sglang_pat import decoder as decoder_module
from sglang_pat.decoder import PatDecoder
from sglang_pat.forest import PrefixForest

SM90 = DEVICE.type == "cuda" and torch.cuda.get_device_capability() == (9, 0)
sm90_only = pytest.mark.skipif(not SM90, reason="needs a CUDA device of capability 9.0")


def small_decoder(device: torch.device | str = "cpu", **options) -> PatDecoder:
    return PatDecoder(
        num_q_heads=32, num_kv_heads=8, head_dim=128, device=device, max_requests=8,
        max_kv_indices=4096, menu=tile_menu(128, 4, "always"), **options,
    )  # fmt: skip


def test_unavailable_off_cuda_and_without_the_lean_kernel() -> None:
    decoder = small_decoder(sm90_shared=True)
    assert not decoder.sm90_shared and "not CUDA" in decoder.sm90_shared_reason
    assert small_decoder().sm90_shared_reason is None  # not asked for: nothing to say
    if DEVICE.type == "cuda":
        reason = sm90_unsupported_reason(DEVICE, tile_menu(128, 4, "off"))
        assert reason is not None  # no lean kernel, or not capability 9.0


def test_inputs_fit_only_the_kinds_the_kernel_reads() -> None:
    q = torch.zeros(2, 32, 128, dtype=torch.bfloat16)
    kv = torch.zeros(64, 8, 128, dtype=torch.bfloat16)
    assert sm90_inputs_fit(q, kv, kv, 0.0)
    assert sm90_inputs_fit(q.half(), kv.half(), kv.half(), 0.0)
    assert not sm90_inputs_fit(q, kv, kv, 30.0)  # a logit cap
    assert not sm90_inputs_fit(q, kv.view(4, 16, 8, 128), kv.view(4, 16, 8, 128), 0.0)  # pages
    assert not sm90_inputs_fit(q.float(), kv.float(), kv.float(), 0.0)
    assert not sm90_inputs_fit(q, kv, kv.half(), 0.0)
    wide = torch.zeros(64, 8, 256, dtype=torch.bfloat16)
    assert not sm90_inputs_fit(torch.zeros(2, 32, 256, dtype=torch.bfloat16), wide, wide, 0.0)
    assert not sm90_inputs_fit(q, kv, kv[..., :64], 0.0)  # V of another head size


def test_launcher_names_what_it_cannot_read() -> None:
    """The launcher checks as ``pack_decode`` does for a shared part, then what only the sm90
    kernel needs, each a ValueError naming the argument, before anything launches."""
    decoder = small_decoder()
    q = torch.zeros(2, 32, 128, dtype=torch.bfloat16)
    kv = torch.zeros(64, 8, 128, dtype=torch.bfloat16)

    def launch(q=q, k=kv, v=kv, menu=decoder.menu, logit_cap=0.0):
        buffers = (decoder.kv_indices, decoder.items, decoder.members, decoder.header)
        shared_part_sm90(
            q, k, v, torch.empty_like(q), *buffers, decoder.partial_o, decoder.partial_lse,
            menu=menu, num_programs=4, sm_scale=0.1, logit_cap=logit_cap,
        )  # fmt: skip

    with pytest.raises(ValueError, match="^menu: has no lean kernel"):
        launch(menu=tile_menu(128, 4, "off"))
    with pytest.raises(ValueError, match="^q: head_dim"):
        launch(q=torch.zeros(2, 32, 64, dtype=torch.bfloat16))
    paged = kv.view(4, 16, 8, 128)
    with pytest.raises(ValueError, match="^k_buffer: the sm90 shared part reads"):
        launch(k=paged, v=paged)
    with pytest.raises(ValueError, match="^k_buffer: the sm90 shared part reads"):
        launch(logit_cap=30.0)


@pytest.mark.parametrize("stores", [False, True], ids=["sglang-stores", "kernels-store"])
@pytest.mark.parametrize("sm90", [False, True], ids=["triton-part", "sm90-part"])
def test_pair_header_splits_every_plan_beside_the_sm90_part(sm90: bool, stores: bool) -> None:
    """A plan kept whole leaves the pair's header whole (the pair then runs every item in its
    Triton shared part), unless the sm90 part is on: it has no packed-tails path, so the
    pair's header splits every plan, whoever stores the new K/V. The all-items launch's
    header is the same either way."""
    forest = PrefixForest.from_tree_spec("1,4_256,40")
    kv = make_batch(forest, num_q_heads=32, num_kv_heads=8, head_dim=128, dtype=torch.float16)
    decoder = small_decoder(DEVICE, stores_new_kv=stores)  # beside the batch's req_to_token
    decoder.sm90_shared = sm90  # as on an sm90 GPU
    plan = decoder.scheduler.plan(forest, kv.pool_rows)
    shared, items = plan.num_shared_items, plan.items.shape[0]
    assert 0 < shared < items
    decoder.upload(plan, kv.req_to_token, may_split=False)
    assert not decoder.splits
    pair = [shared, decoder.scheduler.num_shared_part_programs, items - shared]
    assert decoder.header.tolist() == (pair if sm90 else [items, decoder.num_programs, 0])
    assert decoder.header_all[0].item() == items


@pytest.fixture
def sm90_launches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the decoder's launches of the sm90 shared part."""
    launches: list[int] = []
    launch = decoder_module.shared_part_sm90

    def counted(*args, **kwargs):
        launches.append(1)
        return launch(*args, **kwargs)

    monkeypatch.setattr(decoder_module, "shared_part_sm90", counted)
    return launches


@pytest.mark.cuda
@sm90_only
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("heads", [(32, 8), (64, 8), (16, 8), (32, 32), (16, 1)], ids=str)
@pytest.mark.parametrize(
    "tree",
    ["1,64_4096,512", "1,4,8,64_32,256,256,33", "2,8,16,64_256,128,64,17", "4,128_512,300"],
)
def test_eager_split_matches_sglang_triton(tree, heads, head_dim, dtype, sm90_launches) -> None:
    """Split plans of deep, wide and odd trees at GQA groups 1-16, each head size and dtype:
    the pair with the sm90 shared part against SGLang's triton decode and the reference."""
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(
        forest, num_q_heads=heads[0], num_kv_heads=heads[1], head_dim=head_dim, dtype=dtype
    )
    decoder = decoder_for(
        kv,
        max_requests=forest.num_requests,
        max_kv_indices=int(forest.seq_lens.sum()),
        menu=tile_menu(head_dim, heads[0] // heads[1], "always"),
        sm90_shared=True,
    )
    assert decoder.sm90_shared, decoder.sm90_shared_reason
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    assert decoder.splits
    out = decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, torch.empty_like(kv.q), sm_scale=0.1)
    assert sm90_launches, "the sm90 shared part did not run"
    assert_close(out, sglang_triton_decode(kv, 0.1), dtype)
    assert_close(out, reference_decode(kv, 0.1), dtype)


@pytest.mark.cuda
@sm90_only
@pytest.mark.parametrize("switch", [True, False], ids=["switched", "no-switch"])
@pytest.mark.parametrize("store", [False, True], ids=["sglang-stores", "kernels-store"])
def test_graphs_replay_every_plan_right(switch: bool, store: bool, sm90_launches) -> None:
    """The pair's shared part is the sm90 kernel in every graph, and every plan replays right
    in either form and without the switch: a whole plan that reaches the pair (a graph
    without the switch, or left in the pair's form) runs split, so no packed tails reach the
    sm90 part, and where the private part stores the new K/V it stores in either form. The
    first plan is whole, so the capture's warmup gives the pair a whole plan too."""
    trees = ["64_64", "1,32_512,40", "32_300", "2,4,32_128,64,17", "32_64", "1,8,32_64,64,1000"]
    splits = replay_plans(
        trees,
        tile_menu(128, 4, "always"),
        graph_batch=64,
        switch=switch,
        store=store,
        sm90_shared=True,
    )
    assert splits[1] and splits[3] and not splits[0] and not splits[4]
    assert sm90_launches, "the sm90 shared part did not run"
