"""Experiment: the lean kernel with two shared-part programs per SM and one private-part one.

    python benchmarks/experiments/two_shared/exp.py SHAPE[@Q,KV] ... [--rounds 3]
    TRITON_INTERPRET=1 python benchmarks/experiments/two_shared/exp.py --cpu-check

In lean mode one shared-part program per SM runs the shared units 1.44x slower than two
programs per SM on gsp 4 x 32's batch (../kept_whole/README.md, "What bounds a split
plan"). Two fit beside one private-part program if their tiles' K/V pipelines take 2 stages
and their registers are capped at 192 or less (../aot_sass/README.md, session 20). Each
shape runs in a process of its own; side by side in CUDA graphs after an L2 flush (pack and
merge, as ``bench_kernels.py``):

- ``one-launch``: the lean kernel off;
- ``pair``: today's lean launches, split whatever the gate says (1 shared + 2 private per SM);
- ``2+1@R``: the same plan, the shared part on 2 programs per SM (2 stages, ``maxnreg`` R),
  the private part on 1 program per SM, forked as ``PatDecoder.forward`` forks.

Each row also gives the largest |difference| of every variant's output from the one launch's.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
REGISTER_CAPS = (192, 168)


def launch_private_part(args: tuple, menu, num_programs: int, sm_scale: float) -> None:
    """The lean kernel's private part as ``PatDecoder.forward`` launches it."""
    from sglang_pat.kernels import launch as kernels

    kernels.pack_decode(
        *args, menu=menu, num_programs=num_programs, sm_scale=sm_scale, check=False,
        part="private",
    )  # fmt: skip


def launch_shared_part(args: tuple, menu, num_programs: int, sm_scale: float, maxnreg: int) -> None:
    """The shared part on ``num_programs`` programs (``args``' header names them all), its
    tiles' K/V pipelines capped at 2 stages and its registers at ``maxnreg``: the launcher's
    shared part with those two changes."""
    from sglang_pat.kernels import launch as kernels

    q, k_buffer, v_buffer, o = args[:4]
    partial_o, partial_lse = args[-2:]
    strides, constexprs = kernels._kernel_args(
        q, k_buffer, v_buffer, o, partial_o, partial_lse, sm_scale, 0.0
    )
    tiles = {k: min(v, 2) if k[0] == "S" else v for k, v in menu.kernel_tiles.items()}
    compiled = kernels._pack_decode_kernel[(num_programs,)](
        *args, *strides, **constexprs, **tiles, PART=kernels.PARTS["shared"],
        NUM_TILES=len(menu.tiles), num_warps=menu.num_warps, num_stages=menu.num_stages,
        maxnreg=maxnreg,
    )  # fmt: skip
    if q.is_cuda:
        kernels.prefer_max_shared_carveout(compiled)


def cpu_check() -> None:
    """The 2 + 1 launches on the Triton interpreter (run with TRITON_INTERPRET=1): small
    split plans against the plain PyTorch reference, the queue left zero."""
    import torch

    sys.path.insert(0, str(HERE.parents[2] / "tests"))
    from helpers import assert_close, decoder_for, make_batch, menu_with_gate, reference_decode
    from sglang_pat.kernels import launch as kernels

    from sglang_pat.cost_model import CostModel
    from sglang_pat.forest import PrefixForest

    sharing = CostModel(item_overhead_bytes=0.0, merge_overhead_bytes=0.0)
    for tree in ("1,6_80,40", "2,4,8_32,16,7", "1,2,6_64,32,40"):
        forest = PrefixForest.from_tree_spec(tree)
        kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
        menu = menu_with_gate(64, 4, None)
        decoder = decoder_for(
            kv, max_requests=8, max_kv_indices=1024, num_sms=3, cost=sharing, menu=menu
        )
        decoder.scheduler.min_chunk_tokens = 16
        decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True)
        shared, num_sms, private = decoder.header.tolist()
        assert shared and private, f"{tree}: not split"
        header = torch.tensor([shared, 2 * num_sms, private], dtype=torch.int32)
        out = torch.full_like(kv.q, float("nan"))
        args = (kv.q, kv.k_buffer, kv.v_buffer, out, decoder.kv_indices, decoder.items)
        args += (decoder.members, header, decoder.queue, decoder.partial_o, decoder.partial_lse)
        launch_private_part(args, menu, num_sms, 0.125)
        launch_shared_part(args, menu, 2 * num_sms, 0.125, 192)
        kernels.merge_states(
            out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr
        )
        assert_close(out, reference_decode(kv, 0.125), torch.float16)
        assert decoder.queue.tolist() == [0]
        print(f"{tree}: header {[shared, 2 * num_sms, private]}, matches the reference")


def one(shape: str, rounds: int) -> dict:
    import dataclasses

    import numpy as np
    import torch
    from bench_kernels import HEAD_DIM, batch_for, make_decoder, side_by_side_us
    from sglang_pat.kernels import launch as kernels

    from sglang_pat.cost_model import default_tile_menu

    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = default_tile_menu(HEAD_DIM, group, lean=True)
    assert menu.lean is not None
    always = dataclasses.replace(menu.lean, gate=None, min_graph_batch=1)  # split, any batch
    menu = dataclasses.replace(menu, lean=always)
    decoder = make_decoder(batch, menu)
    one_launch = make_decoder(batch, default_tile_menu(HEAD_DIM, group, lean=False))
    shared, _, private = decoder.header.tolist()
    num_sms = decoder.scheduler.num_shared_part_programs
    two_one_header = torch.tensor([shared, 2 * num_sms, private], dtype=torch.int32).cuda()
    outs = {name: torch.full_like(batch.q, float("nan")) for name in ("one-launch", "pair")}
    side = torch.cuda.Stream()
    fork, join = torch.cuda.Event(), torch.cuda.Event()

    def two_one(out: torch.Tensor, maxnreg: int):
        args = (batch.q, batch.k, batch.v, out, decoder.kv_indices, decoder.items)
        args += (decoder.members, two_one_header, decoder.queue)
        args += (decoder.partial_o, decoder.partial_lse)

        def fn() -> None:
            main = torch.cuda.current_stream()
            fork.record(main)
            side.wait_event(fork)
            with torch.cuda.stream(side):
                launch_private_part(args, menu, num_sms, batch.sm_scale)
            launch_shared_part(args, menu, 2 * num_sms, batch.sm_scale, maxnreg)
            join.record(side)
            main.wait_event(join)
            kernels.merge_states(
                out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr
            )

        return fn

    fns = {
        "one-launch": lambda: one_launch.forward(
            batch.q, batch.k, batch.v, outs["one-launch"], sm_scale=batch.sm_scale
        ),
        "pair": lambda: decoder.forward(
            batch.q, batch.k, batch.v, outs["pair"], sm_scale=batch.sm_scale
        ),
    }
    for cap in REGISTER_CAPS:
        outs[f"2+1@{cap}"] = torch.full_like(batch.q, float("nan"))
        fns[f"2+1@{cap}"] = two_one(outs[f"2+1@{cap}"], cap)
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    times = side_by_side_us(fns, flush, rounds)
    reference = outs["one-launch"].float()
    return dict(
        shape=shape,
        header=[shared, num_sms, private],
        us={name: float(np.median(t)) for name, t in times.items()},
        max_abs_diff={
            name: float((out.float() - reference).abs().max()) for name, out in outs.items()
        },
    )


def main() -> None:
    from bench_kernels import run_shape_experiment

    if sys.argv[1:] == ["--cpu-check"]:
        cpu_check()
        return
    run_shape_experiment(__file__, __doc__, one)


if __name__ == "__main__":
    main()
