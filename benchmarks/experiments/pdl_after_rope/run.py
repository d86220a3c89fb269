"""Experiment: the pack kernels launched as programmatic dependents of the kernel before them.

git apply benchmarks/experiments/pdl_after_rope/dependent-launch.patch
python benchmarks/experiments/pdl_after_rope/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

The patch gives ``pack_decode`` its ``wait_primary`` and the private part its ``pdl`` (not
adopted: see the README).

In a server, a decode layer's attention follows the rotary kernel, which writes ``q`` and the
new K; the pack kernels read the plan and the KV indices (written before the step's graph)
first. Launched as the rotary kernel's programmatic dependents (``PatDecoder.wait_primary``),
their programs may start while it drains. Per shape, one server-like layer is timed in CUDA
graphs after the benchmarks' flush, the variants alternated three times (median each):
a rotary stand-in (a Triton kernel writing ``q`` and ``k_new`` from the fused QKV rows), the
decoder's ``forward(new_kv=...)`` (the pack kernels store the new K/V), then an o_proj-like
GEMM ``[B, Hq·D] × [Hq·D, 4096]`` (what follows attention in a Llama layer):
- ``stock``: no dependent launch;
- ``all@start``: every pack launch dependent (``wait_primary`` 1: each program waits first);
- ``all@unit``: the same with ``wait_primary`` 2 (each unit waits after its plan record);
- ``shared@unit``, ``private@unit``: only that part of the lean pair dependent (split plans);
- ``ordered``: the pair on one stream, the private part first and the shared part its
  dependent (``ordered_pair``), where the decoder launches the pair.
Printed beside them: each variant's max |difference| of the attention output from stock's
(the same kernels on the same inputs: 0 expected).
"""

import os
import sys
from pathlib import Path

import torch
import triton
import triton.language as tl

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import checked_medians, run_shapes  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402
from sglang_pat.kernels.launch import merge_states, pack_decode  # noqa: E402

import sglang_pat.decoder as decoder_module  # noqa: E402

# variant: the pack launches (by ``part``) started as dependents, and where they wait
VARIANTS = {
    "stock": {},
    "all@start": {"all": 1, "private": 1, "shared": 1},
    "all@unit": {"all": 2, "private": 2, "shared": 2},
    "shared@unit": {"shared": 2},
    "private@unit": {"private": 2},
    "ordered": {},  # the pair on one stream, private part first: ordered_pair
}
EAGER = os.environ.get("EAGER") == "1"
WAITS: dict[str, int] = {}  # the variant being captured or run


def dependent_pack_decode(*args, part: str, **options):
    """The product's ``pack_decode`` with the variant's ``wait_primary`` for ``part``."""
    options["wait_primary"] = WAITS.get(part, 0)
    return pack_decode(*args, part=part, **options)


decoder_module.pack_decode = dependent_pack_decode


def ordered_pair(decoder, q, k, v, o, sm_scale: float, new_kv) -> None:
    """The lean pair on the current stream, no fork: the private part first, triggering its
    dependents at once (``pdl=True``), then the shared part as its dependent, waiting for it
    only before it ends (``wait_primary=3``), then the merge. The private part's programs, two
    an SM, so reach the SMs before the shared part's."""
    args = (q, k, v, o, decoder.kv_indices, decoder.items, decoder.members, decoder.header)
    args += (decoder.queue, decoder.partial_o, decoder.partial_lse)
    options = dict(menu=decoder.menu, sm_scale=sm_scale, new_kv=new_kv)
    pack_decode(*args, num_programs=decoder.num_private_programs, part="private", pdl=True,
                **options)  # fmt: skip
    pack_decode(*args, num_programs=decoder.num_programs, part="shared", wait_primary=3,
                **options)  # fmt: skip
    merge_states(o, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)


@triton.jit
def _rope_stand_in_kernel(qkv, q, k_new, Q_ROW: tl.constexpr, K_ROW: tl.constexpr):
    """One request's q and new-K rows out of its fused QKV row (a copy with the rotary
    kernel's reads and writes; the values stay the batch's, so outputs can be compared)."""
    b = tl.program_id(0)
    row = qkv + b * (Q_ROW + 2 * K_ROW)
    offs_q = tl.arange(0, Q_ROW)
    tl.store(q + b * Q_ROW + offs_q, tl.load(row + offs_q))
    offs_k = tl.arange(0, K_ROW)
    tl.store(k_new + b * K_ROW + offs_k, tl.load(row + Q_ROW + offs_k))


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    requests, q_heads, head_dim = batch.q.shape
    kv_heads = batch.k.shape[1]
    rows = torch.as_tensor(batch.pool_rows, device="cuda")
    last = torch.as_tensor(batch.seq_lens - 1, device="cuda")
    loc = batch.req_to_token[rows, last].long()
    q_row, k_row = q_heads * head_dim, kv_heads * head_dim
    # the fused QKV rows, laid out as a Llama layer's qkv_proj output [B, Hq·D + 2·Hkv·D]
    qkv = torch.cat(
        [batch.q.reshape(requests, -1), batch.k[loc].reshape(requests, -1),
         batch.v[loc].reshape(requests, -1)], dim=1,
    ).contiguous()  # fmt: skip
    q = torch.empty_like(batch.q)
    k_new = torch.empty(requests, kv_heads, head_dim, dtype=batch.k.dtype, device="cuda")
    v_new = qkv[:, q_row + k_row :].view(requests, kv_heads, head_dim)
    o_proj = torch.randn(q_row, 4096, dtype=batch.q.dtype, device="cuda") * q_row**-0.5
    decoder = make_decoder(batch, plan=False, stores_new_kv=True)
    # as an eager step (EAGER=1): a plan the gate keeps whole takes the all-items launch, as
    # in a server's switchable graph; else as a graph without the switch (the pair always)
    decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=not EAGER)
    outs = {name: torch.empty_like(batch.q) for name in VARIANTS}
    hidden = torch.empty(requests, 4096, dtype=batch.q.dtype, device="cuda")

    def layer(name: str, waits: dict[str, int]):
        def fn() -> None:
            _rope_stand_in_kernel[(requests,)](qkv, q, k_new, Q_ROW=q_row, K_ROW=k_row)
            WAITS.clear()
            WAITS.update(waits)
            new_kv = (k_new, v_new, loc)
            if name == "ordered" and decoder.lean_needed:
                ordered_pair(decoder, q, batch.k, batch.v, outs[name], batch.sm_scale, new_kv)
            else:
                decoder.forward(
                    q, batch.k, batch.v, outs[name], sm_scale=batch.sm_scale, new_kv=new_kv
                )
            torch.mm(outs[name].view(requests, -1), o_proj, out=hidden)

        return fn

    fns = {name: layer(name, waits) for name, waits in VARIANTS.items()}
    medians, errors, line = checked_medians(fns, outs, tuple(VARIANTS), flush)
    plan = decoder.plan
    diffs = ", ".join(f"{name} {error:.1e}" for name, error in errors.items())
    gains = ", ".join(
        f"{name} {medians[name] - medians['stock']:+.2f}" for name in VARIANTS if name != "stock"
    )
    print(
        f"{shape}: items {plan.items.shape[0]} (shared {plan.num_shared_items}), split "
        f"{decoder.splits}, pair {decoder.lean_needed}; {line}; less stock (us): {gains}; "
        f"max |difference| {diffs}",
        flush=True,
    )


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:])
