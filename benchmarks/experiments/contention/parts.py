"""Experiment: the lean pair's parts alone and together, their K/V in HBM or in the L2.

python benchmarks/experiments/contention/parts.py [SHAPE ...]   (SHAPE as providers.batch_for)

``remap.py`` found that with neither part reading HBM the pair still takes most of its time.
This times, in the same server-like layer and with the read-only flush, the shared part alone,
the private part alone (each a single launch, no merge: wrong outputs, times only) and the
product's forward (the forked pair, then the merge), each for the product's plan and for the
plan with both parts' K/V remapped onto 256 slots (``remap.remapped``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
from graph_timing import read_flush, run_shapes  # noqa: E402
from layer import storing, with_variants  # noqa: E402
from providers import make_decoder, pack_args  # noqa: E402
from remap import SHAPES, remapped  # noqa: E402
from sglang_pat.kernels.launch import pack_decode  # noqa: E402


def one_part(decoder, part: str):
    """One of the decoder's pair launches alone, as a layer's attention."""
    programs = decoder.num_private_programs if part == "private" else decoder.num_programs

    def attention(q, k, v, out, sm_scale: float, new_kv) -> None:
        pack_decode(
            *pack_args(decoder, q, k, v, out), num_programs=programs, part=part,
            menu=decoder.menu, sm_scale=sm_scale, check=False, new_kv=new_kv,
        )  # fmt: skip

    return attention


def resident(batch, _stock) -> dict:
    """``with_variants``' variant: a storing decoder with both parts' slots remapped."""
    return {"L2": make_decoder(remapped(batch, True, True), stores_new_kv=True)}


def run_shape(shape: str, flush) -> None:
    layer = with_variants(shape, resident)
    if layer is None:
        return
    _, server, decoders = layer
    attentions = {}
    for where, decoder in zip(("HBM", "L2"), decoders.values()):
        attentions[f"shared {where}"] = one_part(decoder, "shared")
        attentions[f"private {where}"] = one_part(decoder, "private")
        attentions[f"pair+merge {where}"] = storing(decoder)
    _, _, line = server.time_attentions(attentions, read_flush(flush))
    print(f"{shape} (read flush): {line}", flush=True)


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
