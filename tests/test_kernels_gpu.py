"""On the GPU: PAT against SGLang's own triton decode on the same buffers, and under CUDA graphs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from helpers import (
    DEVICE,
    assert_close,
    decoder_for,
    make_batch,
    menu_with_gate,
    reference_decode,
    take_new_kv,
    tile_menu,
)
from sglang_pat.kernels import launch

from sglang_pat import graph_switch
from sglang_pat.cost_model import default_tile_menu
from sglang_pat.forest import PrefixForest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from graph_timing import timed_graphs  # noqa: E402  (the kernel benchmark's harness)
from providers import Batch, pat_decoder  # noqa: E402
from workloads import workload_for  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(DEVICE.type != "cuda", reason="needs CUDA (not the interpreter)"),
]


def sglang_triton_decode(kv, sm_scale: float, page_size: int = 1, logit_cap: float = 0.0):
    from sglang.kernels.ops.attention.decode_attention import decode_attention_fwd

    lens = torch.from_numpy(kv.seq_lens).cuda()
    b, hq, d = kv.q.shape
    kv_indptr = torch.zeros(b + 1, dtype=torch.int32, device="cuda")
    kv_indptr[1:] = torch.cumsum(lens, 0)
    rows = kv.req_to_token[torch.from_numpy(kv.pool_rows).cuda()].long()
    kv_indices = rows[torch.arange(rows.shape[1], device="cuda")[None, :] < lens[:, None]]
    splits = torch.full((b,), 4, dtype=torch.int32, device="cuda")
    logits = torch.empty(b, hq, 4, d, dtype=torch.float32, device="cuda")
    lse = torch.empty(b, hq, 4, dtype=torch.float32, device="cuda")
    out = torch.empty_like(kv.q)
    decode_attention_fwd(
        kv.q,
        kv.k_buffer,
        kv.v_buffer,
        out,
        kv_indptr,
        kv_indices,
        logits,
        lse,
        splits,
        4,
        sm_scale,
        1.0,
        1.0,
        logit_cap=logit_cap,
        page_size=page_size,
    )
    return out


def pat_decode(forest, kv, logit_cap: float = 0.0, lean: str = "gated"):
    d, group = kv.q.shape[2], kv.q.shape[1] // kv.k_buffer.shape[-2]
    decoder = decoder_for(
        kv,
        max_requests=forest.num_requests,
        max_kv_indices=int(forest.seq_lens.sum()),
        menu=tile_menu(d, group, lean),
    )
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    out = torch.empty_like(kv.q)
    return decoder.forward(
        kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=d**-0.5, logit_cap=logit_cap
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("heads", [(32, 32), (32, 8), (64, 8), (16, 8), (16, 1)], ids=str)
@pytest.mark.parametrize(
    "tree",
    [
        "1,64_4096,512",
        "1,4,8,64_32,256,256,33",
        "2,8,16,64_256,128,64,17",
        "1,256_2048,32",
        "4,128_512,300",  # at G = 4: 300-token tails packed (max_packed_long_tail)
        "16_1328",
        "1_1",
    ],
)
def test_matches_sglang_triton(tree: str, heads: tuple[int, int], dtype: torch.dtype) -> None:
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(forest, num_q_heads=heads[0], num_kv_heads=heads[1], head_dim=128, dtype=dtype)
    assert_close(pat_decode(forest, kv), sglang_triton_decode(kv, 128**-0.5), dtype)


@pytest.mark.parametrize("heads", [(32, 32), (32, 8), (64, 8), (16, 8)], ids=str)
@pytest.mark.parametrize(
    "tree",
    ["1,64_4096,512", "1,4,8,64_32,256,256,33", "1,256_2048,32", "4,32_1024,100", "4,128_512,300"],
)
def test_lean_kernel_matches_sglang_triton(tree: str, heads: tuple[int, int]) -> None:
    """The lean kernel forked beside the pack kernel (a side stream, eager) on every plan with
    shared and private items, and the pack kernel alone (the product's default checks the
    gated choice: ``test_matches_sglang_triton``)."""
    forest = PrefixForest.from_tree_spec(tree)
    kv = make_batch(
        forest, num_q_heads=heads[0], num_kv_heads=heads[1], head_dim=128, dtype=torch.bfloat16
    )
    expected = sglang_triton_decode(kv, 128**-0.5)
    assert_close(pat_decode(forest, kv, lean="always"), expected, torch.bfloat16)
    assert_close(pat_decode(forest, kv, lean="off"), expected, torch.bfloat16)


@pytest.mark.parametrize("head_dim", [64, 256])
@pytest.mark.parametrize("page_size", [1, 16, 64])
def test_head_dims_and_pages(head_dim: int, page_size: int) -> None:
    forest = PrefixForest.from_tree_spec("1,4,32_1024,256,97")
    kv = make_batch(
        forest,
        num_q_heads=16,
        num_kv_heads=4,
        head_dim=head_dim,
        dtype=torch.bfloat16,
        page_size=page_size,
        paged_view=page_size > 1,
    )
    expected = sglang_triton_decode(kv, head_dim**-0.5, page_size=page_size, logit_cap=30.0)
    assert_close(pat_decode(forest, kv, logit_cap=30.0), expected, torch.bfloat16)
    assert_close(expected, reference_decode(kv, head_dim**-0.5, logit_cap=30.0), torch.bfloat16)


def test_huge_slot_indices() -> None:
    """Slot × row stride past 2**31 elements: addresses must be computed in int64."""
    forest = PrefixForest.from_tree_spec("1,4_64,9")
    kv = make_batch(forest, num_q_heads=4, num_kv_heads=1, head_dim=64, dtype=torch.bfloat16)
    slots = 2**31 // 64 + 1024
    big_k = torch.zeros(slots + 256, 1, 64, dtype=torch.bfloat16, device="cuda")
    big_v = torch.zeros_like(big_k)
    used = kv.req_to_token[kv.req_to_token > 0].unique().long()
    big_k[slots + used] = kv.k_buffer[used]
    big_v[slots + used] = kv.v_buffer[used]
    expected = reference_decode(kv, 0.125)
    kv.req_to_token = torch.where(kv.req_to_token > 0, kv.req_to_token + slots, kv.req_to_token)
    kv.k_buffer, kv.v_buffer = big_k, big_v
    decoder = decoder_for(kv, max_requests=4, max_kv_indices=512)
    decoder.plan_step(forest, kv.pool_rows, kv.req_to_token)
    out = decoder.forward(kv.q, big_k, big_v, torch.empty_like(kv.q), sm_scale=0.125)
    assert_close(out, expected, torch.bfloat16)


def test_default_menu_keeps_its_programs_per_sm() -> None:
    """The tiles' K/V buffers (pipeline depth × block) must leave room for every program the
    menu puts on an SM; one more stage on a big tile would halve the occupancy silently. With
    the lean kernel, two lean programs must fit beside one pack program."""
    menu = default_tile_menu(128)
    q = torch.zeros(1, 32, 128, dtype=torch.bfloat16, device="cuda")
    kv = torch.zeros(64, 8, 128, dtype=torch.bfloat16, device="cuda")

    def ints(*shape: int) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.int32, device="cuda")

    args = (q, kv, kv, torch.empty_like(q), ints(64), ints(1, 6), ints(1, 4), ints(3), ints(2))
    args += (torch.empty(1, 32, 128, device="cuda"), torch.empty(1, 32, device="cuda"))
    # no items: only the compiled kernels are wanted
    compiled = launch.pack_decode(*args, menu=menu, num_programs=1, sm_scale=1.0)
    props = torch.cuda.get_device_properties(0)
    per_program = compiled.metadata.shared + 1024  # CUDA reserves 1 KB per block (sm_80+)
    assert per_program * menu.programs_per_sm <= props.shared_memory_per_multiprocessor
    assert compiled.metadata.num_warps * 32 * menu.programs_per_sm <= 2048
    # The private part's programs must fit beside one shared-part program, or the two
    # launches would take turns on the SMs instead of overlapping.
    menu = default_tile_menu(128, 4, lean=True)
    lean = menu.lean
    assert lean is not None
    options = dict(menu=menu, num_programs=1, sm_scale=1.0)
    compiled = launch.pack_decode(*args, part="shared", **options)
    per_program = compiled.metadata.shared + 1024
    lean_compiled = launch.pack_decode(*args, part="private", **options)
    lean_per_program = lean_compiled.metadata.shared + 1024
    smem = per_program * lean.shared_programs_per_sm + lean_per_program * lean.programs_per_sm
    assert smem <= props.shared_memory_per_multiprocessor
    registers = 32 * (
        compiled.n_regs * menu.num_warps * lean.shared_programs_per_sm
        + lean_compiled.n_regs * lean.num_warps * lean.programs_per_sm
    )
    assert lean_compiled.n_regs <= lean.max_registers and registers <= 65536


def replay_plans(
    trees: list[str],
    menu,
    graph_batch: int,
    switch: bool = False,
    store: bool = False,
    **decoder_options,
) -> list[bool]:
    """Capture one graph for ``graph_batch`` requests after planning the first tree, then plan
    each tree and replay the graph; every output is checked, the padded rows included (left
    alone). ``switch``: each form a graph of its own (``graph_switch.form_capture``), the
    plan's replayed. ``store``: the kernels store each request's new K/V (``stores_new_kv``), put
    over garbage before each replay and checked after it. ``decoder_options``: more
    ``PatDecoder`` arguments. Returns each replayed plan's ``splits``."""
    forests = [PrefixForest.from_tree_spec(t) for t in trees]
    batches = [
        make_batch(f, num_q_heads=32, num_kv_heads=8, head_dim=128, dtype=torch.bfloat16, seed=i)
        for i, f in enumerate(forests)
    ]
    decoder = decoder_for(
        batches[0],
        max_requests=graph_batch,
        max_kv_indices=int(max(f.seq_lens.sum() for f in forests)),
        menu=menu,
        stores_new_kv=store,
        **decoder_options,
    )
    q = torch.zeros(graph_batch, 32, 128, dtype=torch.bfloat16, device="cuda")
    k_new = torch.zeros(graph_batch, 8, 128, dtype=torch.bfloat16, device="cuda")
    v_new = torch.zeros_like(k_new)
    new_loc = torch.zeros(graph_batch, dtype=torch.int64, device="cuda")  # padding: slot 0
    new_kv = (k_new, v_new, new_loc) if store else None
    out = torch.empty_like(q)
    k_pool = torch.zeros(
        max(b.k_buffer.shape[0] for b in batches), 8, 128, dtype=torch.bfloat16, device="cuda"
    )
    v_pool = torch.zeros_like(k_pool)
    first = batches[0]
    plan = dict(for_graph=True, graph_batch=graph_batch)
    decoder.plan_step(forests[0], first.pool_rows, first.req_to_token, **plan)
    decoder.forward(q, k_pool, v_pool, out, sm_scale=128**-0.5, new_kv=new_kv)
    graphs: list[torch.cuda.CUDAGraph] = []

    def capture() -> None:  # a warmup call, then the capture, as SGLang's capture_one
        decoder.forward(q, k_pool, v_pool, out, sm_scale=128**-0.5, new_kv=new_kv)
        torch.cuda.synchronize()
        graphs.append(torch.cuda.CUDAGraph())
        with torch.cuda.graph(graphs[-1]):
            decoder.forward(q, k_pool, v_pool, out, sm_scale=128**-0.5, new_kv=new_kv)

    held: dict = {}  # SGLang's graph backend's graphs and outputs, as form_capture swaps them
    outputs: dict = {}
    if switch:
        graph_switch.make_per_form(decoder)

        def sglang_capture() -> None:
            capture()
            held[graph_batch], outputs[graph_batch] = graphs[-1], out

        graph_switch.form_capture(sglang_capture, lambda: (held, outputs), graph_batch)
        assert len(graphs) == 2  # the pair's graph, then the all-items launch's
    else:
        capture()

    def graph() -> torch.cuda.CUDAGraph:  # the one SGLang replays
        return held[graph_batch] if switch else graphs[0]

    splits = []
    for forest, kv in zip(forests, batches):
        decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, **plan)
        splits.append(decoder.splits)
        if switch:
            assert graph() is graphs[0 if decoder.splits else 1]
        rows = forest.num_requests
        q[:rows].copy_(kv.q)
        k_pool[: kv.k_buffer.shape[0]] = kv.k_buffer
        v_pool[: kv.v_buffer.shape[0]] = kv.v_buffer
        expected = reference_decode(kv, 128**-0.5)
        if store:
            taken = take_new_kv(kv, k_pool, v_pool)
            for static, value in zip(new_kv, taken):
                static[:rows] = value
        out.fill_(3.0)
        graph().replay()
        assert_close(out[:rows], expected, torch.bfloat16)
        assert bool((out[rows:] == 3.0).all())
        if store:
            assert_stored(k_pool, v_pool, taken)
        if switch:  # the other form, as if a wrong graph were switched: slower, still right
            (bound,) = decoder.graph_switches.by_batch[graph_batch]
            bound.select(not decoder.splits)
            if store:  # garbage in the new slots again: this form must store them too
                take_new_kv(kv, k_pool, v_pool)
            out.fill_(3.0)
            graph().replay()
            assert_close(out[:rows], expected, torch.bfloat16)
            if store:
                assert_stored(k_pool, v_pool, taken)
    return splits


def assert_stored(k_pool: torch.Tensor, v_pool: torch.Tensor, taken: tuple) -> None:
    """The pools hold ``take_new_kv``'s new K/V at its slots again: the replay stored them."""
    k_taken, v_taken, taken_loc = taken
    assert torch.equal(k_pool[taken_loc], k_taken)
    assert torch.equal(v_pool[taken_loc], v_taken)


@pytest.mark.parametrize("lean", ["off", "always", "gated"])
def test_cuda_graph_replays_new_plans(lean: str) -> None:
    """Capture once with every config launched (with ``lean``, the lean kernel forked and
    joined inside the graph); replay after planning other batches."""
    trees = ["1,32_512,40", "32_300", "2,4,32_128,64,17", "1,8,32_64,64,1000"]
    splits = replay_plans(trees, tile_menu(128, 4, lean), graph_batch=32)
    if lean != "gated":  # the gate's choices are its own
        assert any(splits) == (lean == "always")


@pytest.mark.parametrize("switch", ["plain", "forms"])
@pytest.mark.parametrize("lean", ["off", "gated"])
def test_cuda_graph_replays_store_the_new_kv(lean: str, switch: str) -> None:
    """The kernels storing the new K/V inside a graph: each replay's new slots hold garbage
    before it and the new K/V after it, the outputs as the reference's."""
    if switch != "plain" and lean == "off":
        pytest.skip("the graphs by form need the lean kernel")
    trees = ["1,32_512,40", "32_300", "2,4,32_128,64,17", "1,8,32_64,64,1000"]
    menu = tile_menu(128, 4, lean)
    replay_plans(trees, menu, graph_batch=32, store=True, switch=switch == "forms")


@pytest.mark.parametrize("lean", ["always", "gated"])
def test_switched_graph_replays_each_plan_in_its_form(lean: str) -> None:
    """The switch captures the pair and the all-items launch in a graph each; each replay
    runs the graph of the form its plan wants (``graph_switch.py``), and both forms give the
    right outputs."""
    trees = ["1,32_512,40", "32_300", "2,4,32_128,64,17", "32_64", "1,8,32_64,64,1000"]
    menu = tile_menu(128, 4, lean)
    splits = replay_plans(trees, menu, graph_batch=32, switch=True)
    assert not splits[1] and not splits[3]  # no shared items: kept whole
    if lean == "always":  # and the shared plans split: both forms replayed
        assert splits[0] and splits[2]


@pytest.mark.parametrize("tree", ["1,64_4096,512", "1,32_4096,256"])
def test_benchmark_forms_graph_replays_the_plans_form_alone(tree: str) -> None:
    """The kernel benchmark's ``pat-forms`` decoder (``providers.pat_decoder(forms=True)``)
    captures its plan's form alone, as a default server's graph for that plan: the all-items
    launch for the worked example, which the gate keeps whole, the pair for a plan it splits;
    the graph's output as the plain decoder's eager pair's."""
    batch = Batch(workload_for(tree), 32, 8)
    expected = torch.empty_like(batch.q)
    pat_decoder(batch).forward(batch.q, batch.k, batch.v, expected, sm_scale=batch.sm_scale)
    decoder = pat_decoder(batch, forms=True)
    out = torch.empty_like(batch.q)

    def layer() -> None:
        decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)

    graph, _ = timed_graphs(layer, torch.zeros(1024, dtype=torch.uint8, device="cuda"), reps=2)
    assert decoder.splits == (tree == "1,32_4096,256")
    assert decoder.captured_pair == bool(decoder.splits)  # the pair only for a split plan
    assert not decoder.graph_switches.by_batch  # no switch: the graph holds one form
    out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert_close(out.float(), expected.float(), torch.bfloat16)


def test_small_graph_replays_whole_plans() -> None:
    """A graph for fewer requests than ``LeanKernel.min_graph_batch`` captures the one launch,
    so the plans it replays (up to its batch size, padded) stay whole, here even those that a
    missing gate would always split."""
    trees = ["1,8_512,40", "2,4,8_128,64,17", "8_300", "1,4_64,1000"]
    always = menu_with_gate(128, 4, None, min_graph_batch=16)
    assert replay_plans(trees, always, graph_batch=8) == [False] * 4
    assert any(replay_plans(trees, always, graph_batch=16))  # the same plans, both launches


def test_lean_side_stream_is_in_no_pool() -> None:
    """The private part's stream is the decoder's own: no ``torch.cuda.Stream()`` (a pool of
    32, round-robin) is ever it, so a fork never joins the capturing stream to itself."""
    forest = PrefixForest.from_tree_spec("1,32_512,40")
    kv = make_batch(forest, num_q_heads=32, num_kv_heads=8, head_dim=128, dtype=torch.bfloat16)
    total = int(forest.seq_lens.sum())
    decoder = decoder_for(
        kv, max_requests=forest.num_requests, max_kv_indices=total, menu=tile_menu(128, 4, "always")
    )
    assert decoder.side is not None
    side = decoder.side.stream
    counter = torch.zeros(1, device="cuda")
    with torch.cuda.graph(torch.cuda.CUDAGraph()):  # the default capture stream exists now
        counter.add_(1)  # one node, so the capture is not empty (PyTorch warns on an empty one)
    pooled = [torch.cuda.Stream() for _ in range(64)]
    pooled += [torch.cuda.Stream(priority=-1) for _ in range(64)]
    pooled += [torch.cuda.graphs.graph.default_capture_stream, torch.cuda.current_stream()]
    assert side.cuda_stream not in {s.cuda_stream for s in pooled}
    assert side.device == torch.device("cuda", torch.cuda.current_device())
