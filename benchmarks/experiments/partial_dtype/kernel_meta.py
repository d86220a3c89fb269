"""Registers, spills and shared memory of each compiled pack / merge kernel, after one
forward of SHAPE with fp32 and then 16-bit partial O (H200).

    python benchmarks/experiments/partial_dtype/kernel_meta.py SHAPE
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from providers import batch_for, make_decoder  # noqa: E402
from run import accept_16_bit_partials  # noqa: E402
from sglang_pat.kernels import pack_decode as kernels  # noqa: E402


def compiled(kernel) -> list:
    return [c for cache in kernel.device_caches.values() for c in cache[0].values()]


def main() -> None:
    accept_16_bit_partials()
    batch = batch_for(sys.argv[1])
    for dtype in (torch.float32, torch.bfloat16):
        decoder = make_decoder(batch)
        decoder.partial_o = decoder.partial_o.to(dtype)
        out = torch.empty_like(batch.q)
        decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
        torch.cuda.synchronize()
    for name in ("_pack_decode_kernel", "_merge_states_kernel"):
        for c in compiled(getattr(kernels, name)):
            try:
                sig = {k: v for k, v in c.src.signature.items() if k.startswith("partial")}
            except AttributeError:
                sig = "?"
            try:
                part = {k: v for k, v in c.src.constants.items() if "PART" in str(k)}
            except AttributeError:
                part = "?"
            meta = c.metadata
            print(
                name,
                sig,
                part,
                "regs",
                c.n_regs,
                "spills",
                c.n_spills,
                "shared",
                meta.shared,
                "warps",
                meta.num_warps,
                "maxnreg",
                getattr(meta, "maxnreg", "?"),
            )


if __name__ == "__main__":
    main()
