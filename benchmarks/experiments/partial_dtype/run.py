"""Do 16-bit partial slots pay? (H200)

    python benchmarks/experiments/partial_dtype/run.py SHAPE[@Q,KV] ... [--rounds 3]

Every request with more than one partial writes each partial's O (normalized, so bounded by
its V rows) to ``decoder.partial_o`` and the merge reads it back: fp32 today, 512 bytes a
(slot, q head) at d = 128. On gsp 4 x 32's batch (128 requests, three partials each) that is
about 6.3 MB written and read again a layer. Per shape, in its own process, side by side
(pack + merge, CUDA graph, L2 flushed, as ``bench_kernels.py``): the product's decoder with
fp32, bf16 and fp16 partial O (the LSE stays fp32). Each output's max |difference| from the
kernel tests' PyTorch reference (fp32; session 45's run used a float64 copy of it) and from
the fp32 decoder's output. One JSON line a shape.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

DTYPES = ("fp32", "bf16", "fp16")
PACK_ONLY = os.environ.get("PACK_ONLY") == "1"  # also time each decoder's pack kernels alone


def reference(batch):
    """The kernel tests' PyTorch reference (fp32, on the CPU) on the benchmark batch."""
    sys.path.insert(0, str(HERE.parents[2] / "tests"))
    from helpers import KVBatch, reference_decode

    kv = KVBatch(batch.q, batch.k, batch.v, batch.req_to_token, batch.pool_rows, batch.seq_lens)
    return reference_decode(kv, batch.sm_scale).to(batch.q.device)


def accept_16_bit_partials() -> None:
    """The launcher takes fp32 partials only (fp16 ones could overflow under a bf16 KV
    cache); here its check sees an fp32 stand-in for a 16-bit ``partial_o``. The kernels need
    no change: the store casts to the buffer's type and the merge computes in fp32."""
    import torch
    from sglang_pat.kernels import launch

    check = launch.check_pack_inputs

    def relaxed(*args, **kwargs):
        args = list(args)
        if args[9].dtype != torch.float32:  # partial_o, pack_decode's tenth tensor
            args[9] = torch.empty_like(args[9], dtype=torch.float32)
        check(*args, **kwargs)

    launch.check_pack_inputs = relaxed


def one(shape: str, rounds: int) -> dict:
    import numpy as np
    import torch
    from graph_timing import decoders_side_by_side
    from providers import batch_for, make_decoder

    accept_16_bit_partials()

    batch = batch_for(shape)
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

    def decoder_with(name: str, merge: bool = True):
        decoder = make_decoder(batch)
        decoder.partial_o = decoder.partial_o.to(torch_dtype[name])
        decoder.merge_needed = merge
        return decoder

    decoders = {name: decoder_with(name) for name in DTYPES}
    if PACK_ONLY:  # the same decoders without their merge: pack + merge less this = merge
        decoders |= {f"{name}-pack": decoder_with(name, merge=False) for name in DTYPES}
    plan = decoders["fp32"].plan
    assert plan is not None
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    times, outs = decoders_side_by_side(batch, decoders, flush, rounds)
    ref = reference(batch)
    return dict(
        shape=shape,
        requests=int(batch.q.shape[0]),
        partials=int(plan.req_partial_indptr[-1]),
        splits=bool(decoders["fp32"].splits),
        us={name: float(np.median(t)) for name, t in times.items()},
        max_abs_out=float(ref.abs().max()),
        diff_ref={n: float((outs[n].float() - ref).abs().max()) for n in DTYPES},
        diff_fp32={n: float((outs[n].float() - outs["fp32"].float()).abs().max()) for n in DTYPES},
    )


def main() -> None:
    from graph_timing import run_shape_experiment

    run_shape_experiment(__file__, __doc__, one)


if __name__ == "__main__":
    main()
