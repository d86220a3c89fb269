"""Experiment: the private items in a second, lean kernel at higher occupancy.

python benchmarks/experiments/two_kernels/exp.py WORKLOAD ... -- CONFIG ...
  CONFIG: NxBLOCK_N:wWARPS:sSTAGES:pPROGRAMS_PER_SM[:rMAXNREG][:aSHARED_PROGRAMS_PER_SM]
  [:q1][:T1][:c1], e.g. 16x64:w4:s3:p4:r128 (aN: the stock kernel runs the shared part on N programs
  per SM, leaving room on each SM for the lean kernel's programs when both run at once; q1: the
  lean kernel takes units from an atomic queue with 4063b10's exit counter, instead of striding;
  T1: the packed private tails go to the lean kernel too; c1: both kernels prefer the largest
  shared-memory carveout, so that an SM running one can take the other's programs too; the
  compiled kernels' shared memory and registers are printed; o1: when forked, the stock
  kernel is launched before the lean one)

The stock kernel keeps the shared items (several members) and the packed tails; the private
items (one member, chunk >= 0) go to ``_private_kernel``: one tile shape only, programs striding
over units (no queue), its own warps / stages / register cap / programs per SM. Timed per
workload, each in a CUDA graph after an L2 flush, no merge: the stock kernel on all items, on
the shared part, on the private part; the lean kernel on the private part; shared then private
on one stream; and both on two streams (forked and joined inside the graph). Every variant's
output, merged, is compared with the stock kernel's.
"""

import ctypes
import sys
from pathlib import Path

import torch
import triton
import triton.language as tl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import graph_time_us  # noqa: E402
from providers import Batch, make_decoder  # noqa: E402
from sglang_pat.kernels.attend import _attend_item, _attend_tails  # noqa: E402
from sglang_pat.kernels.launch import kv_layout, merge_states, pack_decode  # noqa: E402
from sglang_pat.kernels.pack_decode import _item_record  # noqa: E402
from workloads import tree_workload  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402


@triton.jit
def _private_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, kv_indices_ptr, items_ptr, members_ptr, header_ptr,
    partial_o_ptr, partial_lse_ptr,
    stride_qb, stride_qh, stride_k_page, stride_k_tok, stride_kh, stride_v_page, stride_v_tok,
    stride_vh, stride_ob, stride_oh, stride_po_slot, stride_po_head, stride_pl_slot,
    sm_scale, logit_cap,
    NUM_KV_HEADS: tl.constexpr, GROUP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr, V_DIM: tl.constexpr, BLOCK_DV: tl.constexpr,
    PAGE_SIZE: tl.constexpr, HAS_LOGIT_CAP: tl.constexpr, SAME_KV_LAYOUT: tl.constexpr,
    OFFSET_64: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, STAGES: tl.constexpr,
    QUEUE: tl.constexpr, TAILS: tl.constexpr, queue_ptr,
):  # fmt: skip
    num_units = tl.load(header_ptr) * NUM_KV_HEADS
    unit = tl.program_id(0)
    while unit < num_units:
        if QUEUE:  # as 4063b10's stock kernel: later units from a queue, an exit counter
            next_unit = tl.num_programs(0) + tl.atomic_add(queue_ptr, 1)
        else:
            next_unit = unit + tl.num_programs(0)
        item = unit // NUM_KV_HEADS
        kv_head = unit % NUM_KV_HEADS
        kv_start, kv_len, member_start, num_members, chunk, _ = _item_record(items_ptr, item)
        if TAILS and chunk < 0:
            _attend_tails(
                q_ptr, k_ptr, v_ptr, o_ptr, kv_indices_ptr, members_ptr, partial_o_ptr,
                partial_lse_ptr, kv_len, member_start, num_members, kv_head, stride_qb,
                stride_qh, stride_k_page, stride_k_tok, stride_kh, stride_v_page, stride_v_tok,
                stride_vh, stride_ob, stride_oh, stride_po_slot, stride_po_head, stride_pl_slot,
                sm_scale, logit_cap, GROUP, HEAD_DIM, BLOCK_D, V_DIM, BLOCK_DV, BLOCK_M,
                BLOCK_N, PAGE_SIZE, HAS_LOGIT_CAP, SAME_KV_LAYOUT, OFFSET_64, STAGES,
            )  # fmt: skip
        else:
            _attend_item(
            q_ptr, k_ptr, v_ptr, o_ptr, kv_indices_ptr, members_ptr, partial_o_ptr,
            partial_lse_ptr, kv_start, kv_len, member_start, num_members, chunk, kv_head,
            stride_qb, stride_qh, stride_k_page, stride_k_tok, stride_kh, stride_v_page,
            stride_v_tok, stride_vh, stride_ob, stride_oh, stride_po_slot, stride_po_head,
            stride_pl_slot, sm_scale, logit_cap, GROUP, HEAD_DIM, BLOCK_D, V_DIM, BLOCK_DV,
            BLOCK_M, BLOCK_N, PAGE_SIZE, HAS_LOGIT_CAP, SAME_KV_LAYOUT, OFFSET_64, STAGES,
            )  # fmt: skip
        unit = next_unit
    if QUEUE:
        if tl.atomic_add(queue_ptr + 1, 1) == tl.num_programs(0) - 1:
            tl.atomic_xchg(queue_ptr, 0)
            tl.atomic_xchg(queue_ptr + 1, 0)


def private_launch(decoder, batch, out, items, header, config: str, num_sms: int):
    parts = config.split(":")
    block_m, block_n = (int(x) for x in parts[0].split("x"))
    opts = {p[0]: int(p[1:]) for p in parts[1:]}
    extra = {"maxnreg": opts["r"]} if "r" in opts else {}
    q, k, v = batch.q, batch.k, batch.v
    page, k_page, k_tok, k_head = kv_layout(k)
    _, v_page, v_tok, v_head = kv_layout(v)
    group = q.shape[1] // k.shape[1]
    grid = (num_sms * opts["p"],)
    queue = torch.zeros(2, dtype=torch.int32, device="cuda")

    def run():
        run.compiled = _private_kernel[grid](
            q, k, v, out, decoder.kv_indices, items, decoder.members, header,
            decoder.partial_o, decoder.partial_lse,
            q.stride(0), q.stride(1), k_page, k_tok, k_head, v_page, v_tok, v_head,
            out.stride(0), out.stride(1), decoder.partial_o.stride(0),
            decoder.partial_o.stride(1), decoder.partial_lse.stride(0), batch.sm_scale, 1.0,
            NUM_KV_HEADS=k.shape[1], GROUP=group, HEAD_DIM=128, BLOCK_D=128, V_DIM=128,
            BLOCK_DV=128, PAGE_SIZE=page, HAS_LOGIT_CAP=False, SAME_KV_LAYOUT=True,
            OFFSET_64=False, BLOCK_M=block_m, BLOCK_N=block_n, STAGES=opts["s"],
            QUEUE=bool(opts.get("q")), TAILS=bool(opts.get("T")), queue_ptr=queue,
            num_warps=opts["w"], num_stages=opts["s"], **extra,
        )  # fmt: skip

    return run


CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT = 9


def prefer_shared_carveout(compiled) -> str:
    """Ask the driver for the largest shared-memory carveout for a compiled kernel (Triton
    sets PREFER_SHARED only above 48 KB); its shared memory and registers, for the log."""
    compiled._init_handles()
    result = ctypes.CDLL("libcuda.so.1").cuFuncSetAttribute(
        ctypes.c_void_p(compiled.function), CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, 100
    )
    return f"smem {compiled.metadata.shared} B, regs {compiled.n_regs}, carveout rc {result}"


def main() -> None:
    args = sys.argv[1:]
    split = args.index("--")
    specs, configs = args[:split], args[split + 1 :]
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    num_sms = torch.cuda.get_device_properties(0).multi_processor_count
    menu = default_tile_menu(128, lean=False)  # the stock kernel, as when this ran
    for spec in specs:
        batch = Batch(tree_workload(spec), 32, 8)
        decoder = make_decoder(batch, menu)
        plan = decoder.plan
        items = plan.items
        dev = lambda a: torch.from_numpy(a.copy()).cuda()  # noqa: E731
        header = lambda n: torch.tensor([int(n)], dtype=torch.int32, device="cuda")  # noqa: E731
        # two ways to split: private items only, or private items and packed tails
        splits = {}
        for with_tails in (False, True):
            private = (items[:, 3] == 1) & (items[:, 4] >= 0)
            if with_tails:
                private |= items[:, 4] < 0
            splits[with_tails] = (
                private,
                (dev(items[~private]), header((~private).sum())),
                (dev(items[private]), header(private.sum())),
            )
        all_items, all_header = dev(items), header(items.shape[0])

        compiled = {}

        def stock(out, its, header, programs=decoder.num_programs):
            return lambda: compiled.__setitem__("stock", pack_decode(
                batch.q, batch.k, batch.v, out, decoder.kv_indices, its, decoder.members,
                header, decoder.queue, decoder.partial_o, decoder.partial_lse, menu=menu,
                num_programs=programs, sm_scale=batch.sm_scale, check=False,
            ))  # fmt: skip

        def merged(run, out):
            out.zero_()
            run()
            merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)
            torch.cuda.synchronize()
            return out.clone()

        ref_out = torch.empty_like(batch.q)
        ref = merged(stock(ref_out, all_items, all_header), ref_out)
        out = torch.empty_like(batch.q)
        base = {"stock all": stock(out, all_items, all_header)}
        for with_tails, (private, shared_part, private_part) in splits.items():
            name = "tails" if with_tails else "plain"
            base[f"stock shared ({name})"] = stock(out, *shared_part)
            base[f"stock private ({name})"] = stock(out, *private_part)
            print(
                f"{spec} {name}: items {items.shape[0]}, private {int(private.sum())}"
                f" (kv_len mean {items[private, 1].mean() if private.any() else 0:.0f}),"
                f" partials {plan.num_partials}",
                flush=True,
            )
        for name, run in base.items():
            print(f"  {name:40s} {graph_time_us(run, flush):7.1f} us", flush=True)
        side = torch.cuda.Stream()
        for config in configs:
            try:
                with_tails = ":T1" in config
                _, shared_part, private_part = splits[with_tails]
                lean = private_launch(decoder, batch, out, *private_part, config, num_sms)
                per_sm = [int(p[1:]) for p in config.split(":") if p[0] == "a"]
                shared_run = stock(out, *shared_part, num_sms * (per_sm or [2])[0])

                def serial(lean=lean, shared_run=shared_run):
                    shared_run()
                    lean()

                stock_first = ":o1" in config

                def forked(lean=lean, shared_run=shared_run, stock_first=stock_first):
                    side.wait_stream(torch.cuda.current_stream())
                    if stock_first:
                        shared_run()
                    with torch.cuda.stream(side):
                        lean()
                    if not stock_first:
                        shared_run()
                    torch.cuda.current_stream().wait_stream(side)

                err = (merged(serial, out).float() - ref.float()).abs().max().item()
                if ":c1" in config:
                    for name, kernel in (("stock", compiled["stock"]), ("lean", lean.compiled)):
                        print(f"    {name}: {prefer_shared_carveout(kernel)}", flush=True)
                err2 = (merged(forked, out).float() - ref.float()).abs().max().item()
                t_lean = graph_time_us(lean, flush)
                t_serial = graph_time_us(serial, flush)
                t_forked = graph_time_us(forked, flush)
                print(
                    f"  {config:24s} private {t_lean:7.1f}  shared+private {t_serial:7.1f}"
                    f"  forked {t_forked:7.1f}  err {err:.2e}/{err2:.2e}",
                    flush=True,
                )
            except Exception as error:  # out of resources, ...
                print(f"  {config}: {type(error).__name__} {str(error)[:120]}", flush=True)


if __name__ == "__main__":
    main()
