"""Experiment: chunk lengths between the powers of two, where the planner's candidates leave a
small batch's long tails in too few, too long units.

    python benchmarks/experiments/chunks/fine_chunks.py 1,3_256,6000 3_6256 1,7_256,3000 2_6000

Why: the planner cuts each chunk class at a power of two (``ChunkCounts.candidates``). On
``1,3_256,6000`` that is 1,024 tokens: 19 items x 8 KV heads = 152 units on the 264 programs,
each unit a chain of 8 KV blocks; FlashInfer decode took 35.4 us against pat's 38.4 (session
38, ``tails_apart.py``). 640 tokens would make 248 units, one wave still, of 5 blocks; 768,
200 units of 6. The pack kernel's loop is latency-bound per block (``../latency/README.md``),
so the longest unit sets a one-wave plan's time. In the Mooncake replay (session 38) pat's
steps at 3 and 7 running requests were 1.1-1.3% longer than flashinfer's.
Variants, one decoder each, the same batch: ``default`` (the planner's chunks) and every class
forced to 512, 640 and 768 tokens (``plan_variants.force_chunk``), alternated ``--rounds``
times in CUDA graphs after the flush, merge included, beside FlashInfer decode. One JSON line
a shape (own process).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_timing import run_shape_experiment  # noqa: E402
from plan_variants import variants_beside_flashinfer  # noqa: E402

VARIANTS = {
    "default": {},
    "chunk 512": dict(chunk=512),
    "chunk 640": dict(chunk=640),
    "chunk 768": dict(chunk=768),
}


def one(shape: str, rounds: int) -> dict:
    return variants_beside_flashinfer(shape, rounds, VARIANTS)


if __name__ == "__main__":
    run_shape_experiment(__file__, __doc__, one)
