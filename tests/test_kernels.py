"""PAT decode kernels against the plain PyTorch reference (Triton interpreter on the CPU)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import (
    DEVICE,
    assert_close,
    decoder_for,
    make_batch,
    menu_with_gate,
    reference_decode,
    tile_menu,
)
from sglang_pat.kernels.launch import pack_decode

from sglang_pat import decoder as decoder_module
from sglang_pat.cost_model import CostModel
from sglang_pat.forest import PrefixForest
from sglang_pat.lean_gate import LeanGate

# bf16 dots are wrong in triton 3.6's interpreter: bf16 is proven on the GPU only.
DTYPES = [torch.float16, torch.float32] + ([torch.bfloat16] if DEVICE.type == "cuda" else [])
SHARING = CostModel(item_overhead_bytes=0.0, merge_overhead_bytes=0.0)  # packs even small spans

TREES = {
    "one-request": "1_17",
    "no-sharing": "4_97",
    "one-prefix": "1,4_64,17",
    "deep-chain": "1,1,1,4_32,16,16,9",
    "wide-fanout": "1,24_48,1",
    "several-roots": "2,4,8_32,16,7",
    "odd-lengths": "1,3_97,1",
}


def run_decoder(forest, kv, *, cost=SHARING, num_sms=3, min_chunk=16, logit_cap=0.0, lean="off"):
    d, group = kv.q.shape[2], kv.q.shape[1] // kv.k_buffer.shape[-2]
    decoder = decoder_for(
        kv,
        max_requests=32,
        max_kv_indices=int(forest.seq_lens.sum()),
        num_sms=num_sms,
        cost=cost,
        menu=tile_menu(d, group, lean),
    )
    decoder.scheduler.min_chunk_tokens = min_chunk
    plan = decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    out = torch.full_like(kv.q, float("nan"))
    decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=d**-0.5, logit_cap=logit_cap)
    return out, plan


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("tree", TREES.values(), ids=TREES.keys())
def test_trees(tree: str, dtype: torch.dtype) -> None:
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=dtype)
    out, _ = run_decoder(forest, kv)
    assert_close(out, reference_decode(kv, 64**-0.5), dtype)


@pytest.mark.parametrize("tree", TREES.values(), ids=TREES.keys())
def test_trees_with_the_lean_kernel(tree: str) -> None:
    """Every tree with its private items split off to the lean kernel, gate or not."""
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    out, _ = run_decoder(forest, kv, lean="always")
    assert_close(out, reference_decode(kv, 64**-0.5), torch.float16)


@pytest.mark.parametrize("for_graph", [False, True], ids=["eager", "graph-planned"])
def test_gate_keeps_one_launch(for_graph: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan with shared and private items that the gate keeps whole: every item on every
    program of the pack kernel (its all-items build eagerly; planned for a graph, its
    shared-part build beside a private-part launch with no items)."""
    forest = PrefixForest.from_tree_spec("2,4,8_32,16,7")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    never = menu_with_gate(64, 4, LeanGate(margin=0.0))
    decoder = decoder_for(
        kv, max_requests=8, max_kv_indices=512, num_sms=3, cost=SHARING, menu=never
    )
    decoder.scheduler.min_chunk_tokens = 16
    plan = decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=for_graph)
    assert 0 < plan.num_shared_items < plan.items.shape[0]
    assert not decoder.splits and decoder.lean_needed == for_graph
    assert decoder.header.tolist() == [plan.items.shape[0], 6, 0]
    parts = []

    def recording(*args, part: str = "all", **options):
        parts.append(part)
        return pack_decode(*args, part=part, **options)

    monkeypatch.setattr(decoder_module, "pack_decode", recording)
    out = torch.full_like(kv.q, float("nan"))
    decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125)
    assert parts == (["private", "shared"] if for_graph else ["all"])
    assert_close(out, reference_decode(kv, 0.125), torch.float16)


@pytest.mark.parametrize("head_dim", [64, 128, 256])
@pytest.mark.parametrize("group", [1, 4, 8, 16])
def test_head_dims_and_groups(head_dim: int, group: int) -> None:
    forest = PrefixForest.from_tree_spec("1,3_160,17")
    kv = make_batch(
        forest,
        num_q_heads=group * 2,
        num_kv_heads=2,
        head_dim=head_dim,
        dtype=torch.float16,
        seed=group,
    )
    out, plan = run_decoder(forest, kv)
    assert plan.num_partials > 0, "the shared prefix must be packed and merged"
    assert_close(out, reference_decode(kv, head_dim**-0.5), torch.float16)


@pytest.mark.parametrize("group", [8, 16])
def test_tails_packed_in_a_tail_tile_other_than_tile_0(group: int) -> None:
    """G = 8 and 16 pack short tails with the menu's 32-row tile (``tail_tile`` 1)."""
    forest = PrefixForest.from_tree_spec("1,7_48,9")
    kv = make_batch(
        forest, num_q_heads=group, num_kv_heads=1, head_dim=64, dtype=torch.float16, seed=3
    )
    out, plan = run_decoder(forest, kv)
    packed = plan.items[plan.items[:, 4] < 0]
    assert (packed[:, 5] == 1).all() and packed[:, 3].max() == 32 // group
    assert_close(out, reference_decode(kv, 64**-0.5), torch.float16)


@pytest.mark.parametrize("lean", ["off", "always"])
def test_long_tails_packed(lean: str) -> None:
    """At G = 4 tails of 257-512 tokens are packed four a unit where the units cover the SMs
    (``TileMenu.max_packed_long_tail``): the packed units' members read 300-token tails."""
    forest = PrefixForest.from_tree_spec("1,8_32,300")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    out, plan = run_decoder(forest, kv, min_chunk=512, lean=lean)
    packed = plan.items[plan.items[:, 4] < 0]
    assert packed[:, 3].tolist() == [4, 4] and (packed[:, 1] == 300).all()
    assert_close(out, reference_decode(kv, 64**-0.5), torch.float16)


def paged_batch(page_size: int, paged_view: bool) -> tuple[PrefixForest, object]:
    """Four requests sharing whole pages of two nested prefixes, in pages of ``page_size``
    (``paged_view``: the buffers viewed [pages, page_size, heads, dim])."""
    tokens = [[1] * 48 + [2] * 20 + [r] * (r + 1) for r in range(3)] + [[1] * 32 + [5] * 9]
    forest = PrefixForest.from_token_ids(tokens, page_size=page_size)
    kv = make_batch(
        forest,
        num_q_heads=4,
        num_kv_heads=1,
        head_dim=128,
        dtype=torch.float16,
        page_size=page_size,
        paged_view=paged_view,
    )
    return forest, kv


@pytest.mark.parametrize("paged_view", [False, True], ids=["3d", "4d"])
@pytest.mark.parametrize("page_size", [1, 16])
def test_page_sizes(page_size: int, paged_view: bool) -> None:
    forest, kv = paged_batch(page_size, paged_view)
    out, plan = run_decoder(forest, kv)
    assert plan.segments.shape[0] > forest.num_requests, "shared packs expected"
    assert_close(out, reference_decode(kv, 128**-0.5), torch.float16)


def test_v_layout_differs_from_k() -> None:
    """V rows at their own strides (K and V no longer share one slot offset)."""
    forest = PrefixForest.from_tree_spec("1,3_70,21")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    v_shape = (*kv.v_buffer.shape[:-1], 2 * kv.v_buffer.shape[-1])
    wide = torch.zeros(v_shape, dtype=torch.float16, device=kv.v_buffer.device)
    wide[..., : kv.v_buffer.shape[-1]] = kv.v_buffer
    kv.v_buffer = wide[..., : kv.v_buffer.shape[-1]]
    assert kv.v_buffer.stride() != kv.k_buffer.stride()
    out, _ = run_decoder(forest, kv)
    assert_close(out, reference_decode(kv, 64**-0.5), torch.float16)


def test_64_bit_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path for KV buffers of 2³¹ elements or more, forced on a small batch."""
    monkeypatch.setattr("sglang_pat.kernels.launch.INT32_OFFSET_LIMIT", 0)
    forest = PrefixForest.from_tree_spec("1,3_70,21")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    out, _ = run_decoder(forest, kv)
    assert_close(out, reference_decode(kv, 64**-0.5), torch.float16)


def test_logit_cap() -> None:
    forest = PrefixForest.from_tree_spec("1,4_40,9")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float32)
    kv.q.mul_(8.0)  # scores well past the cap
    out, _ = run_decoder(forest, kv, logit_cap=5.0)
    assert_close(out, reference_decode(kv, 64**-0.5, logit_cap=5.0), torch.float32)


@pytest.mark.parametrize("cost", [SHARING, CostModel()], ids=["share", "calibrated"])
def test_long_kv_is_split_and_merged(cost: CostModel) -> None:
    forest = PrefixForest.from_tree_spec("1,2_300,130")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    out, plan = run_decoder(forest, kv, cost=cost, num_sms=64, min_chunk=16)
    assert plan.items.shape[0] > plan.segments.shape[0], "long spans must be cut into chunks"
    assert_close(out, reference_decode(kv, 64**-0.5), torch.float16)


def test_fine_chunks_between_the_powers_of_two() -> None:
    """With ``fine_private_chunks`` the tails are cut at 640 tokens (a power of two: 1,024),
    so items start and end off the powers of two; the output stays the reference's."""
    forest = PrefixForest.from_tree_spec("1,3_128,900")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(kv, max_requests=4, max_kv_indices=4096, num_sms=3, cost=CostModel())
    decoder.scheduler.min_chunk_tokens = 16
    decoder.scheduler.fine_private_chunks = True
    plan = decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    private = plan.items[plan.num_shared_items :]
    assert int(private[:, 1].max()) == 640  # the 128-token prefix is read privately here
    out = torch.full_like(kv.q, float("nan"))
    decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125)
    assert_close(out, reference_decode(kv, 0.125), torch.float16)


@pytest.mark.parametrize("num_sms", [1, 64], ids=["queue", "one-wave"])
def test_queue_is_zero_after_every_launch(num_sms: int) -> None:
    """Each launch leaves its work counter zero, so the next layer's launch sees every unit:
    more units than programs (most come from the queue) and fewer (none do)."""
    forest = PrefixForest.from_tree_spec("1,3_80,9")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(kv, max_requests=4, max_kv_indices=512, num_sms=num_sms, cost=SHARING)
    decoder.scheduler.min_chunk_tokens = 16
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    units = decoder.plan.items.shape[0] * 2
    assert (units > decoder.num_programs) == (num_sms == 1)
    for _ in range(3):
        out = torch.full_like(kv.q, float("nan"))
        decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125)
        assert decoder.queue.tolist() == [0]
        assert_close(out, reference_decode(kv, 0.125), torch.float16)


@pytest.mark.parametrize("group", [4, 8])
@pytest.mark.parametrize("lean", [True, False], ids=["two-kernels", "one-kernel"])
def test_private_items_in_the_lean_kernel(lean: bool, group: int) -> None:
    """A plan with shared and private items: the lean kernel takes the private items and the
    packed tails (its tail tile at G = 8 is the menu's 32-row one) while one pack program per
    SM takes the shared ones; without ``menu.lean`` the pack kernel takes them all."""
    forest = PrefixForest.from_tree_spec("1,2,6_64,32,40")  # 40-token tails: packed
    forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + np.arange(6) * 40)
    kv = make_batch(forest, num_q_heads=2 * group, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    menu = tile_menu(64, group, "always" if lean else "off")
    decoder = decoder_for(
        kv, max_requests=8, max_kv_indices=2048, num_sms=3, cost=SHARING, menu=menu
    )
    decoder.scheduler.min_chunk_tokens = 16
    plan = decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    packed = (plan.items[:, 4] < 0).sum()
    assert 0 < plan.num_shared_items and packed > 0, "shared items and packed tails expected"
    header = decoder.header.tolist()
    if lean:
        assert decoder.lean_needed
        assert header == [plan.num_shared_items, 3, plan.items.shape[0] - plan.num_shared_items]
    else:
        assert not decoder.lean_needed and header == [plan.items.shape[0], 6, 0]
    out = torch.full_like(kv.q, float("nan"))
    decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125)
    assert_close(out, reference_decode(kv, 0.125), torch.float16)
    assert decoder.queue.tolist() == [0]
    assert decoder.header_all.tolist()[0] == plan.items.shape[0]
    if lean:  # the all-items launch alone on the split plan (a graph's other form): still right
        decoder.lean_needed = False
        out.fill_(float("nan"))
        decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125)
        assert_close(out, reference_decode(kv, 0.125), torch.float16)
        assert decoder.queue.tolist() == [0]


def test_no_lean_launch_without_shared_items() -> None:
    """All-private plans keep every program of the pack kernel and no lean launch, unless a
    graph is being planned for (a captured graph replays both kernels whatever the plan)."""
    forest = PrefixForest.from_tree_spec("3_50")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    menu = menu_with_gate(64, 4, LeanGate())
    decoder = decoder_for(kv, max_requests=4, max_kv_indices=256, num_sms=2, menu=menu)
    plan = decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    assert decoder.header.tolist() == [plan.items.shape[0], 4, 0] and not decoder.lean_needed
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True)
    assert decoder.lean_needed
    out = decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, torch.empty_like(kv.q), sm_scale=0.125)
    assert_close(out, reference_decode(kv, 0.125), torch.float16)


@pytest.mark.parametrize("graph_batch", [None, 3, 4, 8], ids=lambda b: f"graph-of-{b}")
def test_small_graphs_capture_the_one_launch(graph_batch: int | None) -> None:
    """``LeanKernel.min_graph_batch``: a graph for fewer requests (here 4) captures no
    private-part launch, and every plan it replays is kept whole, even one that its gate
    would split (here: no gate); from that many requests on, the graph has both launches and
    the plan splits. A graph replays plans of at most its batch size (SGLang pads the batch
    up to the graph's), so a split plan never reaches a graph without the private launch.
    Eager steps split whatever the batch size; a lazy step keeps its graph's choice."""
    forest = PrefixForest.from_tree_spec("1,3_80,9")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    menu = menu_with_gate(64, 4, None, min_graph_batch=4)
    decoder = decoder_for(
        kv, max_requests=8, max_kv_indices=512, num_sms=3, cost=SHARING, menu=menu
    )
    decoder.scheduler.min_chunk_tokens = 16
    plan = decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    assert 0 < plan.num_shared_items < plan.items.shape[0]
    assert decoder.splits and decoder.lean_needed  # eager: the gate's choice
    pair = graph_batch is not None and graph_batch >= 4  # None: the forest's 3 requests
    for grown, lazy in ((1, True), (2, False), (1, True)):  # after the eager split, then cold
        forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + grown)
        kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
        plan = decoder.plan_step(
            forest, kv.pool_rows, kv.req_to_token, for_graph=True, graph_batch=graph_batch
        )
        assert decoder.scheduler.last_plan_was_lazy == lazy
        assert decoder.splits == decoder.lean_needed == pair
        items = plan.items.shape[0]
        if pair:
            shared = plan.num_shared_items
            assert decoder.header.tolist() == [shared, 3, items - shared]
        else:
            assert decoder.header.tolist() == [items, decoder.num_programs, 0]
        out = torch.full_like(kv.q, float("nan"))
        decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125)
        assert_close(out, reference_decode(kv, 0.125), torch.float16)
        assert decoder.queue.tolist() == [0]
    with pytest.raises(ValueError, match="graph_batch"):  # a graph holds its whole batch
        decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True, graph_batch=2)


def test_padded_requests_are_left_alone() -> None:
    """A CUDA-graph bucket larger than the batch: extra rows keep what they hold."""
    forest = PrefixForest.from_tree_spec("1,2_64,5")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(kv, max_requests=4, max_kv_indices=256, num_sms=2, cost=SHARING)
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True)
    q = torch.cat([kv.q, torch.zeros_like(kv.q)])
    out = torch.full_like(q, 7.0)
    decoder.forward(q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125)
    assert_close(out[:2], reference_decode(kv, 0.125), torch.float16)
    assert torch.all(out[2:] == 7.0)


def test_bad_input_names_the_argument() -> None:
    forest = PrefixForest.from_tree_spec("2_8")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(kv, max_requests=2, max_kv_indices=16, num_sms=2)
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    out = torch.empty_like(kv.q)
    with pytest.raises(ValueError, match="q"):
        decoder.forward(kv.q[:, :, :32], kv.k_buffer, kv.v_buffer, out, sm_scale=0.1)
    with pytest.raises(ValueError, match="v_buffer"):
        decoder.forward(kv.q, kv.k_buffer, kv.v_buffer.float(), out, sm_scale=0.1)
    with pytest.raises(ValueError, match="o"):
        decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out[:1], sm_scale=0.1)
    with pytest.raises(ValueError, match="k_buffer"):
        decoder.forward(
            kv.q.to(torch.int8), kv.k_buffer.to(torch.int8), kv.v_buffer, out, sm_scale=0.1
        )
    with pytest.raises(ValueError, match="req_to_token"):
        decoder.plan_step(forest, kv.pool_rows, kv.req_to_token.long())
    too_long = PrefixForest.from_tree_spec("3_8")
    with pytest.raises(ValueError, match="max_requests"):
        decoder.plan_step(too_long, [1, 2, 3], kv.req_to_token)


def test_capacity_overflow_falls_back_to_private_plan() -> None:
    forest = PrefixForest.from_tree_spec("1,2,4_96,96,9")  # 3 partials a request > 2
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(
        kv, max_requests=4, max_kv_indices=1024, num_sms=64, cost=SHARING, max_chunks_per_tile=2
    )
    decoder.scheduler.min_chunk_tokens = 16
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    assert decoder.capacity_fallbacks == 1
    out = decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, torch.empty_like(kv.q), sm_scale=0.125)
    assert_close(out, reference_decode(kv, 0.125), torch.float16)


@pytest.mark.parametrize("heads", [8, 5])
@pytest.mark.parametrize("slots_at_once", [False, True], ids=["slot-by-slot", "slots-at-once"])
def test_merge_states_against_reference(slots_at_once: bool, heads: int) -> None:
    """Slot ranges of 0, 1, 2, 16, 17 and 40 partials against softmax weights in PyTorch, in
    both merge builds (the one-request build loads 16 slots at a time); 5 heads leave some of a
    program's heads masked."""
    from sglang_pat.kernels.launch import merge_states

    counts = [0, 1, 2, 16, 17, 40]
    gen = torch.Generator().manual_seed(0)
    num_slots, v_dim = sum(counts), 64
    partial_o = torch.randn(num_slots, heads, v_dim, generator=gen).to(DEVICE)
    partial_lse = (4 * torch.randn(num_slots, heads, generator=gen)).to(DEVICE)
    indptr = torch.tensor([0, *torch.tensor(counts).cumsum(0).tolist()], dtype=torch.int32)
    out = torch.full((len(counts), heads, v_dim), 7.0, dtype=torch.float16, device=DEVICE)
    merge_states(out, partial_o, partial_lse, indptr.to(DEVICE), slots_at_once=slots_at_once)
    for b, count in enumerate(counts):
        if count < 2:  # written by the pack kernel: the merge leaves it alone
            assert torch.all(out[b] == 7.0)
            continue
        rows = slice(int(indptr[b]), int(indptr[b + 1]))
        weight = torch.softmax(partial_lse[rows].cpu(), dim=0)  # [slots, heads]
        expected = (weight[:, :, None] * partial_o[rows].cpu()).sum(0)
        assert_close(out[b : b + 1], expected[None], torch.float16)


def test_small_batches_merge_as_the_pack_kernels_dependent() -> None:
    """Under PDL_MAX_BATCH rows the one launch starts the merge as a programmatic dependent
    where the device can (sm90+): the same outputs as the plain launch. Elsewhere (the
    interpreter) the launchers refuse it by name."""
    from sglang_pat.kernels.driver import pdl_supported
    from sglang_pat.kernels.launch import merge_states

    from sglang_pat.launch_policy import PDL_MAX_BATCH

    forest = PrefixForest.from_tree_spec("3_300")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(kv, max_requests=4, max_kv_indices=1024, num_sms=64)
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True)
    assert decoder.plan.num_partials > 0 and 3 < PDL_MAX_BATCH  # a merge to start early
    args = (kv.q, kv.k_buffer, kv.v_buffer)
    out = decoder.forward(*args, torch.empty_like(kv.q), sm_scale=0.125)
    assert_close(out, reference_decode(kv, 0.125), torch.float16)
    supported = pdl_supported(kv.q.device)
    assert decoder._pdl == supported
    if supported:
        for early in (0, 1):  # the merge started as the pack kernel ends, then at once
            decoder.header_all[1] = early
            assert torch.equal(decoder.forward(*args, torch.empty_like(kv.q), sm_scale=0.125), out)
        decoder._pdl = False
        plain = decoder.forward(*args, torch.empty_like(kv.q), sm_scale=0.125)
        assert torch.equal(out, plain)
    else:
        partials = (decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)
        with pytest.raises(ValueError, match="pdl"):
            merge_states(out, *partials, pdl=True)


def test_merge_starts_early_only_where_its_programs_spread() -> None:
    """A PDL merge starts with the pack kernel when no program is idle, or enough are idle
    for the merge's programs to spread over their SMs (``launch_policy.merge_starts_early``); the
    plan's flag is the all-items header's second entry."""
    from sglang_pat.launch_policy import merge_starts_early

    assert merge_starts_early(units=672, num_programs=264, merge_programs=48)  # a queue
    assert merge_starts_early(units=256, num_programs=264, merge_programs=16)  # 4 x 8000
    assert merge_starts_early(units=192, num_programs=264, merge_programs=64)  # 72 idle
    assert not merge_starts_early(units=256, num_programs=264, merge_programs=64)  # 8 idle
    forest = PrefixForest.from_tree_spec("3_300")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    decoder = decoder_for(kv, max_requests=4, max_kv_indices=1024, num_sms=64)
    plan = decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True)
    units = plan.items.shape[0] * 2
    expected = merge_starts_early(units, decoder.num_programs, merge_programs=3)
    assert decoder.header_all.tolist() == [plan.items.shape[0], int(expected)]


@pytest.mark.parametrize("tree", ["1_300", "2_300"])
def test_one_request_merges_slots_at_once(tree: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of one request (MERGE_SLOTS_AT_ONCE_MAX_BATCH) takes the merge build that
    loads its slots at once, larger batches the slot-by-slot one; both match the reference."""
    import sglang_pat.decoder as decoder_module
    from sglang_pat.launch_policy import MERGE_SLOTS_AT_ONCE_MAX_BATCH

    builds: list[bool] = []
    stock = decoder_module.merge_states

    def recording(*args, slots_at_once: bool = False, **options) -> None:
        builds.append(slots_at_once)
        stock(*args, slots_at_once=slots_at_once, **options)

    monkeypatch.setattr(decoder_module, "merge_states", recording)
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    out, plan = run_decoder(forest, kv, num_sms=64, min_chunk=16)
    assert plan.num_partials > forest.num_requests, "a request must have several partials"
    assert builds == [forest.num_requests <= MERGE_SLOTS_AT_ONCE_MAX_BATCH]
    assert_close(out, reference_decode(kv, 64**-0.5), torch.float16)


def test_lazy_steps_keep_the_gates_choice() -> None:
    """The gate runs on cold plans; a lazy update (every request a token longer, the same
    items) keeps its choice, and the header still follows the new plan."""
    calls = []

    class CountingGate(LeanGate):
        def splits(self, work) -> bool:
            calls.append(work)
            return True

    forest = PrefixForest.from_tree_spec("1,4_64,17")
    kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
    menu = menu_with_gate(64, 4, CountingGate())
    decoder = decoder_for(
        kv, max_requests=4, max_kv_indices=512, num_sms=3, cost=SHARING, menu=menu
    )
    decoder.scheduler.min_chunk_tokens = 16
    for step in range(3):
        plan = decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
        assert decoder.scheduler.last_plan_was_lazy == (step > 0)
        shared = plan.num_shared_items
        assert decoder.splits and decoder.header.tolist() == [shared, 3, len(plan.items) - shared]
        forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + 1)
    assert len(calls) == 1
