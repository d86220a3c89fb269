"""Experiment: the pack kernels launched as programmatic dependents of the kernel before them.

git apply benchmarks/experiments/pdl_after_rope/dependent-launch.patch
python benchmarks/experiments/pdl_after_rope/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

The patch gives ``pack_decode`` its ``wait_primary`` and the private part its ``pdl`` (not
adopted: see the README).

In a server, a decode layer's attention follows the rotary kernel, which writes ``q`` and the
new K; the pack kernels read the plan and the KV indices (written before the step's graph)
first. Launched as the rotary kernel's programmatic dependents (the patch's ``wait_primary``,
set per launch here by ``dependent_pack_decode``), their programs may start while it
drains. Per shape, one server-like layer (``layer.py``: a rotary stand-in, the decoder's
``forward(new_kv=...)``, an o_proj-like GEMM) is timed in CUDA graphs after the benchmarks'
flush, the variants alternated three times (median each):
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

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import items_text, run_shapes  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layer import ServerLayer, against_first  # noqa: E402
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


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    server = ServerLayer(batch)
    decoder = make_decoder(batch, plan=False, stores_new_kv=True)
    # as an eager step (EAGER=1): a plan the gate keeps whole takes the all-items launch, as
    # in a server's switchable graph; else as a graph without the switch (the pair always)
    decoder.plan_step(batch.forest, batch.pool_rows, batch.req_to_token, for_graph=not EAGER)

    def attention(name: str, waits: dict[str, int]):
        def fn(q, k, v, out, sm_scale: float, new_kv) -> None:
            WAITS.clear()
            WAITS.update(waits)
            if name == "ordered" and decoder.lean_needed:
                ordered_pair(decoder, q, k, v, out, sm_scale, new_kv)
            else:
                decoder.forward(q, k, v, out, sm_scale=sm_scale, new_kv=new_kv)

        return fn

    attentions = {name: attention(name, waits) for name, waits in VARIANTS.items()}
    medians, errors, line = server.time_attentions(attentions, flush)
    print(
        f"{shape}: {items_text(decoder.plan)}, split {decoder.splits}, pair "
        f"{decoder.lean_needed}; {line}; {against_first(medians, errors)}",
        flush=True,
    )


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:])
