"""Experiment: how fast can a batch's private KV be read at all, in the pack kernel's layout?

python benchmarks/experiments/private_bw/exp.py [WORKLOAD ...]   [--configs C,C,..]
(default: 64_512 128_256 64_4096, every config below)

Pure-load Triton kernels (no attention math) read every request's K and V through
``kv_indices`` from the bench's pool (bf16, pages of 16 shuffled, [slots, kv_heads, 128]), each
in a CUDA graph after an L2 flush, beside pat's pack + merge and FlashInfer decode on the same
batch:

- ``head``: a unit is (request, KV split, KV head), as the pack kernel's private units: it
  reads [BLOCK_N, 128] of one head per block, 256 B of each 2 KB token row;
- ``row``: a unit is (request, KV split) and reads [BLOCK_N, kv_heads × 128], whole token rows.

Each is timed twice: after the benches' flush (zeroing 256 MB: dirty lines left in L2) and
after a read-only flush (a 256 MB reduction: clean lines). Configs:
``head:BLOCK_N:STAGES:SPLIT:PROGRAMS_PER_SM`` and ``row:...`` (programs stride over units;
PROGRAMS_PER_SM 0 = one program per unit). Workloads with shared prefixes (a comma in the
spec) time pat and FlashInfer only; TB/s is on unique bytes.
"""

import sys
from pathlib import Path

import torch
import triton
import triton.language as tl

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import graph_time_us  # noqa: E402
from providers import Batch, run_flashinfer_decode, run_pat  # noqa: E402
from workloads import tree_workload  # noqa: E402


@triton.jit
def _load_kernel(
    k_ptr, v_ptr, idx_ptr, indptr_ptr, out_ptr, stride_tok, num_units,
    H: tl.constexpr, D: tl.constexpr, ROW: tl.constexpr, BLOCK_N: tl.constexpr,
    STAGES: tl.constexpr, SPLIT: tl.constexpr,
):  # fmt: skip
    WIDTH: tl.constexpr = H * D if ROW else D
    HEADS: tl.constexpr = 1 if ROW else H
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, WIDTH)
    unit = tl.program_id(0)
    while unit < num_units:
        head = unit % HEADS
        split = (unit // HEADS) % SPLIT
        req = unit // (HEADS * SPLIT)
        first = tl.load(indptr_ptr + req)
        length = tl.load(indptr_ptr + req + 1) - first
        per = tl.cdiv(tl.cdiv(length, SPLIT), BLOCK_N) * BLOCK_N
        lo = first + split * per
        hi = tl.minimum(lo + per, first + length)
        acc = tl.zeros([WIDTH], dtype=tl.float32)
        next_loc = tl.load(idx_ptr + lo + offs_n, mask=lo + offs_n < hi, other=0)
        for start in tl.range(lo, hi, BLOCK_N, num_stages=STAGES):
            loc = next_loc
            ahead = start + BLOCK_N + offs_n
            next_loc = tl.load(idx_ptr + ahead, mask=ahead < hi, other=0)
            mask = (start + offs_n < hi)[:, None]
            rows = loc[:, None] * stride_tok + head * D + offs_d[None, :]
            k = tl.load(k_ptr + rows, mask=mask, other=0.0)
            v = tl.load(v_ptr + rows, mask=mask, other=0.0)
            acc += tl.sum(k.to(tl.float32) + v.to(tl.float32), 0)
        tl.store(out_ptr + unit.to(tl.int64) * WIDTH + offs_d, acc)
        unit += tl.num_programs(0)


def make_load(batch: Batch, config: str, num_sms: int):
    kind, block_n, stages, split, per_sm = config.split(":")
    block_n, stages, split, per_sm = int(block_n), int(stages), int(split), int(per_sm)
    heads = batch.k.shape[1]
    lens = torch.from_numpy(batch.seq_lens.astype("int64"))
    indptr = torch.zeros(len(lens) + 1, dtype=torch.int32)
    indptr[1:] = torch.cumsum(lens, 0)
    rows = [batch.req_to_token[1 + r, : int(n)] for r, n in enumerate(lens.tolist())]
    idx = torch.cat(rows).contiguous()
    indptr = indptr.cuda()
    row = kind == "row"
    units = len(lens) * split * (1 if row else heads)
    out = torch.empty(units, heads * 128 if row else 128, device="cuda", dtype=torch.float32)
    grid = (units if per_sm == 0 else min(units, per_sm * num_sms),)

    def run():
        _load_kernel[grid](
            batch.k, batch.v, idx, indptr, out, batch.k.stride(0), units, H=heads, D=128,
            ROW=row, BLOCK_N=block_n, STAGES=stages, SPLIT=split, num_warps=4,
        )  # fmt: skip

    run()
    # every K and V element summed once: the sums must match torch's
    want = (batch.k[idx].float() + batch.v[idx].float()).sum(dim=(0, 1, 2))
    got = out.sum()
    assert torch.allclose(got, want, rtol=1e-3, atol=1.0), (config, float(got), float(want))
    return run


CONFIGS = [
    "head:64:3:1:2",
    "head:128:2:1:2",
    "head:64:3:1:0",
    "head:64:4:1:4",
    "head:64:3:2:2",
    "head:128:3:1:2",
    "head:32:4:1:4",
    "head:64:3:4:2",
    "row:16:3:1:2",
    "row:16:3:4:2",
    "row:8:4:8:2",
    "row:16:3:8:2",
    "row:32:2:8:1",
    "row:16:3:16:0",
    "row:8:3:16:4",
]


def main() -> None:
    args = sys.argv[1:]
    configs = CONFIGS
    if "--configs" in args:
        configs = args[args.index("--configs") + 1].split(",")
        args = args[: args.index("--configs")]
    shapes = args or ["64_512", "128_256", "64_4096"]
    num_sms = torch.cuda.get_device_properties(0).multi_processor_count
    # "write": the benches' flush, zeroing 256 MB, leaves up to an L2 of dirty lines that the
    # timed call then writes back; "read": a 256 MB reduction leaves clean lines only.
    buffer = torch.zeros(2**26, dtype=torch.float32, device="cuda")
    total = torch.zeros((), dtype=torch.float32, device="cuda")
    flushes = {"write": buffer.zero_, "read": lambda: torch.sum(buffer, dim=0, out=total)}
    print(torch.cuda.get_device_name(0), "SMs", num_sms, flush=True)
    for spec in shapes:
        batch = Batch(tree_workload(spec), 32, 8)
        kv_bytes = batch.unique_bytes
        results = {}
        for flush_name, flush in flushes.items():
            for name, make in (("pat", run_pat), ("flashinfer-decode", run_flashinfer_decode)):
                _, fn = make(batch)
                results[f"{flush_name}:{name}"] = graph_time_us(fn, flush)
            for config in configs if "," not in spec else []:
                try:
                    fn = make_load(batch, config, num_sms)
                    results[f"{flush_name}:{config}"] = graph_time_us(fn, flush)
                except Exception as error:  # report and go on
                    print(f"{spec} {config}: {type(error).__name__} {error!s:.200}", flush=True)
        bound = kv_bytes / 4.27e6
        print(f"== {spec}: {kv_bytes / 1e6:.1f} MB, bound {bound:.1f} us at 4.27 TB/s", flush=True)
        for name, us in results.items():
            tb_s = kv_bytes / us / 1e6
            print(f"{spec:10s} {name:24s} {us:8.1f} us  {tb_s:5.2f} TB/s", flush=True)
        del batch
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
