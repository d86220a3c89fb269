"""Experiment: could FlashInfer's prefill kernels (FA2, FA3 on sm90) run PAT's shared packs?

python benchmarks/experiments/shared_prefill/exp.py [SPEC ...]   (one-level specs G,R_L,T)

A shared pack is a prefill with no mask: the R/G members' queries (one token each) attend to
the group's L-token prefix. Each group becomes a prefill request of R/G query tokens over the
prefix's pages (the bench's pool, pages of 16); with SPLITS s > 1 each prefix is cut into s
requests (the same queries repeated), as pat cuts it into chunks. Timed in a CUDA graph after
an L2 flush (``graph_timing.graph_time_us``), beside pat's shared items alone (no merge).
FlashInfer's output for s = 1 is checked against a float32 reference.
"""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import graph_time_us  # noqa: E402
from profile_pat import item_times  # noqa: E402
from providers import DTYPE, HEAD_DIM, PAGE, Batch, make_decoder, paged_cache  # noqa: E402
from workloads import tree_workload  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402


def prefill(batch: Batch, groups: int, prefix: int, splits: int, backend: str):
    import flashinfer

    hq, hkv = batch.q.shape[1], batch.k.shape[1]
    per_group = batch.q.shape[0] // groups
    pages_per_split = prefix // PAGE // splits
    q_rows, kv_pages = [], []
    for g in range(groups):
        members = list(range(g * per_group, (g + 1) * per_group))
        pages = torch.from_numpy(batch.pages[members[0], : prefix // PAGE])
        for s in range(splits):
            q_rows += members
            kv_pages.append(pages[s * pages_per_split : (s + 1) * pages_per_split])
    q = batch.q[torch.tensor(q_rows, device="cuda")].contiguous()
    qo_indptr = torch.arange(0, len(q_rows) + 1, per_group, dtype=torch.int32)
    kv_indptr = torch.arange(0, pages_per_split * len(kv_pages) + 1, pages_per_split)
    last = torch.full((len(kv_pages),), PAGE, dtype=torch.int32)
    workspace = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    wrapper = flashinfer.BatchPrefillWithPagedKVCacheWrapper(workspace, "NHD", backend=backend)
    wrapper.plan(
        qo_indptr.cuda(), kv_indptr.int().cuda(), torch.cat(kv_pages).int().cuda(), last.cuda(),
        hq, hkv, HEAD_DIM, PAGE, causal=False, q_data_type=DTYPE, kv_data_type=DTYPE,
        sm_scale=batch.sm_scale,
    )  # fmt: skip
    cache = paged_cache(batch)
    out = torch.empty_like(q)
    lse = torch.empty(q.shape[0], hq, dtype=torch.float32, device="cuda")
    run = lambda: wrapper.run(q, cache, out=out, lse=lse, return_lse=True)  # noqa: E731
    return run, out, q, kv_pages


def reference_error(batch: Batch, out, q, kv_pages, per_group: int) -> float:
    """Max |FlashInfer - float32 attention| over the first group (SPLITS 1 only)."""
    pages = kv_pages[0].cuda().long()
    slots = (pages[:, None] * PAGE + torch.arange(PAGE, device="cuda")).reshape(-1)
    k, v = batch.k[slots].float(), batch.v[slots].float()  # [L, hkv, D]
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    qg = q[:per_group].float()  # [n, hq, D]
    scores = torch.einsum("nhd,lhd->hnl", qg, k) * batch.sm_scale
    ref = torch.einsum("hnl,lhd->nhd", scores.softmax(-1), v)
    return float((out[:per_group].float() - ref).abs().max())


def main() -> None:
    specs = sys.argv[1:] or ["1,64_4096,512", "4,128_4096,256", "1,256_2048,32"]
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    for spec in specs:
        counts, lens = spec.split("_")
        groups, requests = map(int, counts.split(","))
        prefix = int(lens.split(",")[0])
        batch = Batch(tree_workload(spec), 32, 8)
        decoder = make_decoder(batch, default_tile_menu(HEAD_DIM))
        decoder.merge_needed = False
        items = decoder.plan.items
        shared = (items[:, 3] > 1) & (items[:, 4] >= 0)  # packed tails have several members too
        (pat_us,) = item_times(decoder, batch, flush, [shared])
        flop = 4 * HEAD_DIM * requests * 32 * prefix / 1e6  # MFLOP
        print(
            f"{spec}: pat shared items {pat_us:6.1f} us ({flop / pat_us:.0f} TFLOP/s)", flush=True
        )
        for backend in ("fa3", "fa2"):
            for splits in (1, 4):
                try:
                    run, out, q, kv_pages = prefill(batch, groups, prefix, splits, backend)
                    us = graph_time_us(run, flush)
                    err = ""
                    if splits == 1:
                        worst = reference_error(batch, out, q, kv_pages, requests // groups)
                        err = f"max|err| {worst:.1e}"
                    print(f"{spec}: flashinfer prefill {backend} splits {splits}: {us:6.1f} us "
                          f"({flop / us:.0f} TFLOP/s) {err}", flush=True)  # fmt: skip
                except Exception as error:  # report and go on
                    print(
                        f"{spec}: {backend} splits {splits}: {type(error).__name__} {error!s:.300}"
                    )
        del batch, decoder
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
