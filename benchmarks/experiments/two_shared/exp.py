"""Experiment: the lean kernel with two shared-part programs per SM and one private-part one.

    python benchmarks/experiments/two_shared/exp.py SHAPE[@Q,KV] ... [--rounds 3]
    TRITON_INTERPRET=1 python benchmarks/experiments/two_shared/exp.py --cpu-check

In lean mode one shared-part program per SM runs the shared units 1.44x slower than two
programs per SM on gsp 4 x 32's batch (../kept_whole/README.md, "What bounds a split
plan"). Two fit beside one private-part program if their tiles' K/V pipelines take 2 stages
and their registers are capped at 192 or less (../aot_sass/README.md, session 20). Each
shape runs in a process of its own; side by side in CUDA graphs after an L2 flush (pack and
merge, as ``bench_kernels.py``), each a ``PatDecoder`` planning the shape for a graph:

- ``one-launch``: the lean kernel off;
- ``pair``: today's lean kernel, split whatever the gate says (1 shared + 2 private per SM);
- ``2+1@R``: the same split with ``two_one_menu``: the shared part on 2 programs per SM
  (the menu's 2 stages, ``LeanKernel.shared_max_registers`` R), the private part on 1.

Each row also gives the largest |difference| of every variant's output from the one launch's.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
REGISTER_CAPS = (192, 168)


def always_split(menu):
    """``menu`` with its lean kernel splitting every plan with both kinds of item, small
    batches included."""
    return dataclasses.replace(
        menu, lean=dataclasses.replace(menu.lean, gate=None, min_graph_batch=1)
    )


def two_one_menu(menu, max_registers: int):
    """``menu`` (with a lean kernel) with two shared-part programs per SM at 2 stages and
    ``max_registers``, beside one private-part program, always split."""
    lean = dataclasses.replace(
        menu.lean, shared_programs_per_sm=2, programs_per_sm=1, shared_max_registers=max_registers
    )
    return always_split(dataclasses.replace(menu, num_stages=2, lean=lean))


def cpu_check() -> None:
    """The 2 + 1 decoder on the Triton interpreter (run with TRITON_INTERPRET=1): small split
    plans against the plain PyTorch reference, the queue left zero."""
    import torch

    sys.path.insert(0, str(HERE.parents[2] / "tests"))
    from helpers import assert_close, decoder_for, make_batch, reference_decode

    from sglang_pat.cost_model import CostModel, default_tile_menu
    from sglang_pat.forest import PrefixForest

    sharing = CostModel(item_overhead_bytes=0.0, merge_overhead_bytes=0.0)
    menu = two_one_menu(default_tile_menu(64, 4), 192)
    for tree in ("1,6_80,40", "2,4,8_32,16,7", "1,2,6_64,32,40"):
        forest = PrefixForest.from_tree_spec(tree)
        kv = make_batch(forest, num_q_heads=8, num_kv_heads=2, head_dim=64, dtype=torch.float16)
        decoder = decoder_for(
            kv, max_requests=8, max_kv_indices=1024, num_sms=3, cost=sharing, menu=menu
        )
        decoder.scheduler.min_chunk_tokens = 16
        decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True)
        header = decoder.header.tolist()
        assert header[0] and header[1] == 6 and header[2], f"{tree}: not split 2 + 1"
        assert decoder.num_private_programs == 3
        out = torch.full_like(kv.q, float("nan"))
        decoder.forward(kv.q, kv.k_buffer, kv.v_buffer, out, sm_scale=0.125)
        assert_close(out, reference_decode(kv, 0.125), torch.float16)
        assert decoder.queue.tolist() == [0]
        print(f"{tree}: header {header}, matches the reference")


def one(shape: str, rounds: int) -> dict:
    import numpy as np
    import torch
    from bench_kernels import HEAD_DIM, batch_for, decoders_side_by_side, make_decoder

    from sglang_pat.cost_model import default_tile_menu

    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    menu = default_tile_menu(HEAD_DIM, group)
    menus = {"one-launch": default_tile_menu(HEAD_DIM, group, lean=False)}
    menus["pair"] = always_split(menu)
    menus.update({f"2+1@{cap}": two_one_menu(menu, cap) for cap in REGISTER_CAPS})
    decoders = {name: make_decoder(batch, m) for name, m in menus.items()}
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    times, outs = decoders_side_by_side(batch, decoders, flush, rounds)
    reference = outs["one-launch"].float()
    return dict(
        shape=shape,
        headers={name: d.header.tolist() for name, d in decoders.items()},
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
