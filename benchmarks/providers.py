"""One decode batch laid out for every provider, and the providers ``bench_kernels.py`` times.

Every provider reads the same KV pool (bf16, pages of 16 shuffled, shared prefixes stored once):
pat and SGLang's triton decode through token slots (``req_to_token`` / ``kv_indices``),
FlashInfer through the page table. A provider returns ``(out, fn)``: ``fn`` computes the layer
into ``out`` (a tensor, or a dict whose ``"out"`` it sets), or None when it cannot run the shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from workloads import Workload, page_table, workload_for

from sglang_pat.cost_model import TileMenu, default_tile_menu
from sglang_pat.decoder import PatDecoder

PAGE = 16
HEAD_DIM = 128
DTYPE = torch.bfloat16


class Batch:
    """One workload laid out for every provider on the GPU."""

    def __init__(self, work: Workload, num_q_heads: int, num_kv_heads: int, seed: int = 0):
        forest = self.forest = work.forest
        self.work = work
        pages, num_pages = page_table(forest, PAGE, seed)
        self.pages = pages
        lens = forest.seq_lens
        positions = np.arange(pages.shape[1] * PAGE)
        slots = pages[:, positions // PAGE] * PAGE + positions % PAGE
        self.req_to_token = torch.zeros(forest.num_requests + 1, slots.shape[1], dtype=torch.int32)
        self.req_to_token[1:] = torch.from_numpy(slots.astype(np.int32))
        self.req_to_token = self.req_to_token.cuda()
        self.pool_rows = np.arange(1, forest.num_requests + 1)
        gen = torch.Generator(device="cuda").manual_seed(seed)
        shape = (num_pages * PAGE, num_kv_heads, HEAD_DIM)
        self.k = torch.randn(shape, generator=gen, device="cuda", dtype=DTYPE)
        self.v = torch.randn(shape, generator=gen, device="cuda", dtype=DTYPE)
        self.q = torch.randn(
            forest.num_requests, num_q_heads, HEAD_DIM, generator=gen, device="cuda", dtype=DTYPE
        )
        self.seq_lens = lens
        self.sm_scale = HEAD_DIM**-0.5
        unique_tokens = int(np.unique(slots[positions[None, :] < lens[:, None]]).shape[0])
        self.unique_tokens = unique_tokens
        self.unique_bytes = unique_tokens * num_kv_heads * HEAD_DIM * 2 * 2 + 2 * self.q.numel() * 2

    def new_slots(self) -> torch.Tensor:
        """Each request's last slot, its new token's (int64 ``[B]``: SGLang's ``out_cache_loc``
        of the step), for the experiments where the kernels store the new K/V."""
        rows = torch.as_tensor(self.pool_rows, device="cuda")
        last = torch.as_tensor(self.seq_lens - 1, device="cuda")
        return self.req_to_token[rows, last].long()


def splitting_every_plan(menu: TileMenu) -> TileMenu:
    """``menu`` with its lean kernel's gate off: every plan with shared and private items goes
    to the two launches, at any batch size (experiments that time the split itself)."""
    if menu.lean is None:
        raise ValueError("menu: has no lean kernel")
    lean = dataclasses.replace(menu.lean, gate=None, min_graph_batch=1)
    return dataclasses.replace(menu, lean=lean)


def pack_args(decoder: PatDecoder, q, k, v, out) -> tuple:
    """``pack_decode``'s tensors for ``decoder``'s uploaded plan, in the launcher's order."""
    head = (q, k, v, out, decoder.kv_indices, decoder.items, decoder.members, decoder.header)
    return head + (decoder.queue, decoder.partial_o, decoder.partial_lse)


def fork_pair(
    decoder: PatDecoder,
    args: tuple,
    options: dict,
    shared_first: bool = False,
    private: Callable[[], object] | None = None,
) -> None:
    """The decoder's lean pair as its forward forks it: the private part on the side stream,
    then the shared part, then the join (``shared_first``: the shared part launched first).
    ``args`` and ``options`` go to both ``pack_decode`` launches; ``private()``, where given,
    launches an experiment's private part in place of the product's."""
    from sglang_pat.kernels.launch import pack_decode

    main = decoder.side.fork()

    def private_part() -> None:
        with torch.cuda.stream(decoder.side.stream):
            if private is None:
                programs = decoder.num_private_programs
                pack_decode(*args, num_programs=programs, part="private", **options)
            else:
                private()

    def shared_part() -> None:
        pack_decode(*args, num_programs=decoder.num_programs, part="shared", **options)

    for part in (shared_part, private_part) if shared_first else (private_part, shared_part):
        part()
    decoder.side.join(main)


def forked_pair(
    batch: Batch,
    decoder: PatDecoder,
    out: torch.Tensor,
    merge: bool,
    private: Callable[[torch.Tensor], object] | None = None,
    **options,
):
    """The decoder's lean pair as its forward forks it (``fork_pair``), then the merge unless
    ``merge`` is False, on ``batch`` into ``out``: a function of no arguments. ``options`` go
    to both ``pack_decode`` launches; ``private(out)``, where given, launches an experiment's
    private part in place of the product's."""
    from sglang_pat.kernels.launch import merge_states

    args = pack_args(decoder, batch.q, batch.k, batch.v, out)
    options = dict(menu=decoder.menu, sm_scale=batch.sm_scale, check=False, **options)
    own_private = None if private is None else (lambda: private(out))

    def run() -> None:
        fork_pair(decoder, args, options, private=own_private)
        if merge:
            merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)

    return run


def batch_for(shape: str) -> Batch:
    """The batch of ``TREE[@Q_HEADS,KV_HEADS]`` (default heads 32, 8), as the experiments
    name their shapes, e.g. ``1,10_4096,416@64,8``; TREE may be a shuffled gsp batch
    (``workloads.gsp_sample_workload``)."""
    spec, _, heads = shape.partition("@")
    q_heads, kv_heads = map(int, (heads or "32,8").split(","))
    return Batch(workload_for(spec), q_heads, kv_heads)


def make_decoder(
    batch: Batch,
    menu=None,
    plan: bool = True,
    cost=None,
    max_partials: int | None = None,
    fine: bool | None = None,
    **decoder_options,
) -> PatDecoder:
    """A decoder sized for ``batch`` (menu and cost model: the defaults unless given), with the
    batch planned as for a CUDA graph unless ``plan`` is False. ``max_partials``: the partial
    slots' budget (default: 32 a request, ``PlanCapacity.for_batch``; the server's is
    ``decoder.SERVER_MAX_PARTIALS``). ``fine``: the planner's ``fine_private_chunks`` (None:
    its default). ``decoder_options`` go to ``PatDecoder`` as they are."""
    decoder = PatDecoder(
        num_q_heads=batch.q.shape[1],
        num_kv_heads=batch.k.shape[1],
        head_dim=HEAD_DIM,
        device="cuda",
        max_requests=batch.q.shape[0],
        max_kv_indices=int(batch.seq_lens.sum()),
        kv_dtype=DTYPE,
        menu=menu,
        cost=cost,
        max_partials=max_partials,
        **decoder_options,
    )
    if fine is not None:
        decoder.scheduler.fine_private_chunks = fine
    if plan:
        decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
    return decoder


def ungated(menu: TileMenu) -> TileMenu:
    """``menu`` with its lean gate off: every plan with shared and private items splits."""
    if menu.lean is None:
        raise ValueError("ungated: the menu has no lean kernel")
    return dataclasses.replace(menu, lean=dataclasses.replace(menu.lean, gate=None))


def pat_decoder(
    batch: Batch,
    lean: bool = True,
    fine: bool | None = None,
    gate: bool = True,
    sm90: bool = False,
    forms: bool = False,
) -> PatDecoder:
    """The product's decoder on ``batch``, planned as for a CUDA graph; in a plain graph it
    runs as a server's graph without the switch does (SGLANG_PAT_GRAPH_SWITCH=0: the pair,
    whatever the plan). Or without the lean kernel (``lean``), with private chunks at powers
    of two (``fine`` False), its lean gate off (``gate`` False: every plan splits), with the
    sm90 shared part (``sm90``; it needs a compute capability 9.0 GPU), in the default
    server's graph (``forms``: the form its plan wants alone, the all-items launch for a plan
    the lean gate keeps whole, as ``graph_switch.form_capture`` captures it for that plan)."""
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = default_tile_menu(HEAD_DIM, group, lean=lean)
    decoder = make_decoder(batch, menu if gate else ungated(menu), fine=fine, sm90_shared=sm90)
    if sm90 and not decoder.sm90_shared:
        raise ValueError(f"pat-sm90: {decoder.sm90_shared_reason}")
    if forms:  # planned once: every call, eager or captured, launches this plan's form
        if decoder.menu.lean is None:
            raise ValueError("forms: the graph's two forms need the lean kernel")
        decoder.capture_form = bool(decoder.splits)
    return decoder


def run_pat(batch: Batch, **options):
    """pat on ``batch`` (``pat_decoder(batch, **options)``): its output and one layer's call."""
    decoder = pat_decoder(batch, **options)
    out = torch.empty_like(batch.q)
    return out, lambda: decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)


def beside_flashinfer_decode(batch: Batch, fns: dict, outs: dict, rounds: int) -> dict:
    """``fns`` (each writing its ``outs`` entry) and FlashInfer decode on ``batch``, alternated
    ``rounds`` times in CUDA graphs after the flush (``graph_timing.side_by_side_us``): the
    shape experiments' fields ``gpu``, ``us`` and ``max_abs_diff_vs_flashinfer``."""
    from graph_timing import side_by_side_us

    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    outs = dict(outs)
    fns = dict(fns)
    outs["flashinfer-decode"], fns["flashinfer-decode"] = run_flashinfer_decode(batch)
    times = side_by_side_us(fns, flush, rounds)
    reference = outs["flashinfer-decode"].float()
    return dict(
        gpu=torch.cuda.get_device_name(),
        us=times,
        max_abs_diff_vs_flashinfer={
            name: float((out.float() - reference).abs().max()) for name, out in outs.items()
        },
    )


def run_sglang_triton(batch: Batch):
    from sglang.kernels.ops.attention.decode_attention import decode_attention_fwd
    from sglang.kernels.ops.attention.metadata import get_num_kv_splits_triton

    b, hq = batch.q.shape[:2]
    lens = torch.from_numpy(batch.seq_lens).cuda()
    kv_indptr = torch.zeros(b + 1, dtype=torch.int32, device="cuda")
    kv_indptr[1:] = torch.cumsum(lens, 0)
    rows = batch.req_to_token[1:].long()
    mask = torch.arange(rows.shape[1], device="cuda")[None, :] < lens[:, None]
    kv_indices = rows[mask]
    max_splits = 8
    splits = torch.empty(b, dtype=torch.int32, device="cuda")
    get_num_kv_splits_triton[(1,)](
        splits,
        lens,
        b,
        1,
        hq,
        batch.k.shape[1],
        max_splits,
        torch.cuda.get_device_properties(0).multi_processor_count,
        MAX_NUM_SEQ=max(256, 1 << (b - 1).bit_length()),
    )
    logits = torch.empty(b, hq, max_splits, HEAD_DIM, dtype=torch.float32, device="cuda")
    lse = torch.empty(b, hq, max_splits, dtype=torch.float32, device="cuda")
    out = torch.empty_like(batch.q)
    return out, lambda: decode_attention_fwd(
        batch.q,
        batch.k,
        batch.v,
        out,
        kv_indptr,
        kv_indices,
        logits,
        lse,
        splits,
        max_splits,
        batch.sm_scale,
        1.0,
        1.0,
    )


def paged_cache(batch: Batch, kv: tuple[torch.Tensor, torch.Tensor] | None = None):
    """``batch``'s K/V buffers (or ``kv``, buffers of the same layout) as FlashInfer's pages."""
    k, v = kv or (batch.k, batch.v)
    hkv = k.shape[1]
    return (k.view(-1, PAGE, hkv, HEAD_DIM), v.view(-1, PAGE, hkv, HEAD_DIM))


def _level_pages(batch: Batch, rows: list[int], lo: int, hi: int):
    pages = [torch.from_numpy(batch.pages[r, lo // PAGE : -(-hi // PAGE)]) for r in rows]
    indptr = torch.tensor([0] + np.cumsum([p.shape[0] for p in pages]).tolist(), dtype=torch.int32)
    last = torch.tensor([(hi - lo - 1) % PAGE + 1] * len(rows), dtype=torch.int32)
    return indptr, torch.cat(pages).int(), last


def run_flashinfer_decode(batch: Batch, kv: tuple[torch.Tensor, torch.Tensor] | None = None):
    """FlashInfer decode planned for ``batch``: its output and a call that runs it on the
    batch's K/V, or on ``kv`` (copies of the same layout)."""
    import flashinfer

    hq, hkv = batch.q.shape[1], batch.k.shape[1]
    lens = batch.seq_lens
    pages = [torch.from_numpy(batch.pages[r, : -(-lens[r] // PAGE)]) for r in range(len(lens))]
    indptr = torch.tensor([0] + np.cumsum([p.shape[0] for p in pages]).tolist(), dtype=torch.int32)
    last = torch.from_numpy((lens - 1) % PAGE + 1).int()
    workspace = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(
        workspace, "NHD", use_tensor_cores=hq // hkv >= 4
    )
    wrapper.plan(
        indptr.cuda(),
        torch.cat(pages).int().cuda(),
        last.cuda(),
        hq,
        hkv,
        HEAD_DIM,
        PAGE,
        q_data_type=DTYPE,
        kv_data_type=DTYPE,
        sm_scale=batch.sm_scale,
    )
    out = torch.empty_like(batch.q)
    cache = paged_cache(batch, kv)
    return out, lambda: wrapper.run(batch.q, cache, out=out)


def run_flashinfer_cascade(batch: Batch):
    import flashinfer

    levels = batch.work.cascade_levels
    if levels is None or len(levels) < 2:
        return None
    hq, hkv = batch.q.shape[1], batch.k.shape[1]
    b = batch.q.shape[0]
    forest = batch.forest
    qo, kv_indptr, kv_indices, last_len = [], [], [], []
    depth_start = 0
    for level, per_node in enumerate(levels):
        groups = list(range(0, b, per_node))
        qo.append(torch.tensor(groups + [b], dtype=torch.int32).cuda())
        if level < len(levels) - 1:
            node = forest.req_node[0]
            ends = []  # the level's node end: the shared path's boundaries, level by level
            while node >= 0:
                ends.append(int(forest.node_end[node]))
                node = forest.node_parent[node]
            depth_end = ends[::-1][level]
            ip, ix, ll = _level_pages(batch, groups, depth_start, depth_end)
            depth_start = depth_end
        else:
            parts = [
                _level_pages(batch, [r], depth_start, int(batch.seq_lens[r])) for r in range(b)
            ]
            ip = torch.tensor(
                [0] + np.cumsum([p[1].shape[0] for p in parts]).tolist(), dtype=torch.int32
            )
            ix = torch.cat([p[1] for p in parts])
            ll = torch.cat([p[2] for p in parts])
        kv_indptr.append(ip.cuda())
        kv_indices.append(ix.cuda())
        last_len.append(ll.cuda())
    workspace = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    wrapper = flashinfer.MultiLevelCascadeAttentionWrapper(len(levels), workspace, "NHD")
    wrapper.plan(
        qo,
        kv_indptr,
        kv_indices,
        last_len,
        hq,
        hkv,
        HEAD_DIM,
        PAGE,
        sm_scale=batch.sm_scale,
        q_data_type=DTYPE,
        kv_data_type=DTYPE,
    )
    cache = paged_cache(batch)
    holder = {}

    def run():
        holder["out"] = wrapper.run(batch.q, cache)

    run()
    return holder, run


PROVIDERS = {
    "pat": run_pat,
    # pat without the lean kernel: the pack kernel's one launch on every plan (as before
    # session 18, when the gated lean kernel became the default; cost_model.LeanKernel)
    "pat-one-launch": lambda batch: run_pat(batch, lean=False),
    # pat with private chunks at powers of two only (the default before session 41;
    # PackScheduler.fine_private_chunks)
    "pat-powers": lambda batch: run_pat(batch, fine=False),
    # pat with its lean gate off (every plan with shared and private items split), and with
    # the sm90 shared part (kernels/shared_part_sm90.py) where the plan splits, gated or not
    "pat-split": lambda batch: run_pat(batch, gate=False),
    "pat-sm90": lambda batch: run_pat(batch, sm90=True),
    "pat-sm90-split": lambda batch: run_pat(batch, gate=False, sm90=True),
    # pat in the default server's graph form since session 81: the form its plan wants alone
    # (graph_switch.form_capture), the pair's graph (``pat``) on a plan the gate splits
    "pat-forms": lambda batch: run_pat(batch, forms=True),
    "sglang-triton": run_sglang_triton,
    "flashinfer-decode": run_flashinfer_decode,
    "flashinfer-cascade": run_flashinfer_cascade,
}
