"""Experiment: the sm90 shared part beside a private part that stores the new K/V.

python benchmarks/experiments/sm90_store/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

Until session 74 the product kept the two apart (``PatDecoder`` refused ``sm90_shared`` with
``stores_new_kv``): a graph left in the pair's form could replay a whole plan through the sm90
shared part, whose packed-tails path does not store. In a split plan the private part holds
every request's new token, so the sm90 part has nothing to store there; since session 74 the
pair always takes the split beside a storing private part (``PatDecoder._pair_always_splits``).
This times the combination on split plans, in the server-like layer of
``../pdl_after_rope/layer.py`` (CUDA graphs after the flush, alternated three times, medians):

- ``triton stores``: the default server (Triton shared part, the pack kernels store);
- ``sm90 stores``: the sm90 shared part, the private part storing (in session 74 the sm90
  part was forced on in these non-switchable captures; since session 77 it runs in any);
- ``store + sm90``: the opt-in server before session 74 (a store kernel before the layer's
  attention, the sm90 shared part).
"""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXPERIMENTS = ROOT / "benchmarks" / "experiments"
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(EXPERIMENTS / "pdl_after_rope"))
from graph_timing import PAIR_SHAPES, run_shapes  # noqa: E402
from layer import against_first, split_layer, storing  # noqa: E402
from providers import make_decoder  # noqa: E402

# store_in_kernel/run.py's store kernel (a file named as this one: loaded by its path)
_spec = importlib.util.spec_from_file_location(
    "store_in_kernel", EXPERIMENTS / "store_in_kernel" / "run.py"
)
store_in_kernel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(store_in_kernel)
store_kernel = store_in_kernel.store_kernel

SHAPES = PAIR_SHAPES[:6]  # gsp 4 x 32 at serving's tails, 4,128_4096,256


def sm90_decoder(batch, stores: bool):
    """A decoder with the sm90 shared part on for its split plan, storing if ``stores``."""
    decoder = make_decoder(batch, plan=False, sm90_shared=True, stores_new_kv=stores)
    if decoder.sm90_shared_reason:
        raise SystemExit(f"sm90 shared part unavailable: {decoder.sm90_shared_reason}")
    decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=True)
    return decoder  # its pair runs the sm90 part in any graph (since session 77)


def run_shape(shape: str, flush) -> None:
    split = split_layer(shape)
    if split is None:
        return
    batch, server, triton = split
    sm90_storing, sm90_plain = sm90_decoder(batch, True), sm90_decoder(batch, False)
    assert sm90_storing.splits and sm90_plain.splits
    k_new, v_new, loc = server.new_kv
    # the stand-in store reads whole rows: V's rows out of the fused QKV copied once (they
    # stay the same from call to call)
    store_name, store = store_kernel(k_new, v_new.contiguous(), batch.k, batch.v, loc)

    def store_then_sm90(q, k, v, out, sm_scale: float, new_kv) -> None:
        store()
        sm90_plain.forward(q, k, v, out, sm_scale=sm_scale)

    attentions = {
        "triton stores": storing(triton),
        "sm90 stores": storing(sm90_storing),
        "store + sm90": store_then_sm90,
    }
    medians, errors, line = server.time_attentions(attentions, flush)
    text = against_first(medians, errors)
    print(f"{shape}: {line}; {text}; store kernel: {store_name}", flush=True)


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
