"""Experiment: the layer's new K/V stored by the pack kernels against a store kernel before them.

python benchmarks/experiments/store_in_kernel/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

Per shape, the product's decoder planned as for a CUDA graph (default menu and gate), its
forward timed in CUDA graphs after the benchmarks' flush, the variants alternated three times
(median each):
- ``store + pat``: a store kernel writing every request's new K/V at its last slot (SGLang's
  ``store_cache`` where SGLang is installed, as its servers run it; else a Triton copy kernel
  of the same work, named in the output), then ``forward``: a server's layer before this;
- ``pat stores``: ``forward(new_kv=...)`` of a decoder built with ``stores_new_kv``;
- ``pat alone``: ``forward`` with nothing stored (the floor; its output is right here only
  because the buffers already hold the new K/V).
Printed beside them: the max |difference| of ``pat stores``' output from ``store + pat``'s, and
whether the KV buffers hold exactly the new K/V after ``pat stores`` wrote them over garbage.
"""

import sys
from pathlib import Path

import torch
import triton
import triton.language as tl

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import checked_medians, items_text, run_shapes  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402


@triton.jit
def _copy_rows_kernel(k_new, v_new, k_buf, v_buf, loc_ptr, ROW: tl.constexpr):
    """One request's new K and V rows (all KV heads) to its slot."""
    b = tl.program_id(0)
    loc = tl.load(loc_ptr + b)
    offs = tl.arange(0, ROW)
    tl.store(k_buf + loc * ROW + offs, tl.load(k_new + b * ROW + offs))
    tl.store(v_buf + loc * ROW + offs, tl.load(v_new + b * ROW + offs))


def store_kernel(k_new, v_new, k_buf, v_buf, loc) -> tuple[str, object]:
    """SGLang's store where importable, else the Triton stand-in: (name, fn)."""
    row = k_new.shape[1] * k_new.shape[2]
    try:
        from sglang.kernels.ops.kvcache.kvcache import store_cache

        def sglang_store() -> None:
            store_cache(
                k_new.view(-1, row), v_new.view(-1, row), k_buf.view(-1, row),
                v_buf.view(-1, row), loc, row_bytes=row * 2, v_row_bytes=row * 2,
                size_limit=k_buf.shape[0],
            )  # fmt: skip

        return "sglang store_cache", sglang_store
    except ImportError:
        grid = (k_new.shape[0],)
        return "triton copy", lambda: _copy_rows_kernel[grid](
            k_new, v_new, k_buf, v_buf, loc, ROW=row
        )


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    loc = batch.new_slots()
    k_new, v_new = batch.k[loc].clone(), batch.v[loc].clone()
    plain, storing = make_decoder(batch), make_decoder(batch, stores_new_kv=True)
    store_name, store = store_kernel(k_new, v_new, batch.k, batch.v, loc)
    outs = {name: torch.empty_like(batch.q) for name in ("store + pat", "pat stores", "pat alone")}

    def forward(decoder, name: str, **options):
        return lambda: decoder.forward(
            batch.q, batch.k, batch.v, outs[name], sm_scale=batch.sm_scale, **options
        )

    def store_then_pat() -> None:
        store()
        forward(plain, "store + pat")()

    fns = {
        "store + pat": store_then_pat,
        "pat stores": forward(storing, "pat stores", new_kv=(k_new, v_new, loc)),
        "pat alone": forward(plain, "pat alone"),
    }
    batch.k[loc], batch.v[loc] = 1e4, 1e4  # garbage only a store overwrites
    fns["pat stores"]()
    torch.cuda.synchronize()
    stored = torch.equal(batch.k[loc], k_new) and torch.equal(batch.v[loc], v_new)
    medians, errors, line = checked_medians(fns, outs, ("store + pat", "pat stores"), flush)
    plan = storing.plan
    print(
        f"{shape}: {items_text(plan)}, split {storing.splits}; {line}; pat stores - (store + pat) "
        f"{medians['pat stores'] - medians['store + pat']:+.1f} us; store kernel: {store_name}; "
        f"max |difference| {errors['pat stores']:.1e}; new K/V stored exactly: {stored}",
        flush=True,
    )


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:])
