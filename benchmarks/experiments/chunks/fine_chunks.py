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
Variants, one decoder each, the same batch: ``default`` (the planner's chunks), ``fine``
(``PackScheduler.fine_private_chunks``: the cost model's pick among the powers of two and the
128-token multiples at 1¼ and 1½ times them) and every class forced to 512, 640 and 768 tokens
(``plan_variants.force_chunk``), alternated ``--rounds`` times in CUDA graphs after the flush,
merge included, beside FlashInfer decode. One JSON line a shape (own process).

Session 38 (one H200, the product code of cbe6768, before ``fine`` existed;
``../../results/2026-12-02-NVIDIA-H200/session38-kernels/fine_chunks.jsonl``), µs a layer,
mean of 3 rounds, 32 q / 8 KV heads (units: items x 8 on 264 programs):

| batch | default | 512 | 640 | 768 | FlashInfer decode |
|---|---:|---:|---:|---:|---:|
| ``1,3_256,6000`` | 38.4 (1,024: 152 units) | 49.3 (296) | **35.0** (248) | 35.6 (200) | 35.2 |
| ``1,7_256,3000`` | 40.8 (1,024: 176) | 47.7 (344) | 50.2 (288) | **38.6** (232) | 38.8 |
| ``3_6256`` | 38.6 (1,024: 168) | 48.8 (312) | **35.1** (240) | 35.9 (216) | 36.0 |
| ``2_6000`` | **27.8** (512: 192) | 27.8 (192) | 28.6 (160) | 30.3 (128) | 27.4 |

One wave (units ≤ programs) with the shortest longest unit wins; past one wave (512 on the
first three) the plan takes two. ``fine`` picks 640, 768 and 640 on the first three (the
fastest), and 384 (256 units, not measured) on ``2_6000``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_variants import run_variants  # noqa: E402

VARIANTS = {
    # "default" and the forced chunks: the planner's default when this ran, private chunks at
    # powers of two only (until session 41), as ticket_model.py replans the recorded runs
    "default": dict(fine_private_chunks=False),
    "fine": dict(fine_private_chunks=True),
    "chunk 512": dict(chunk=512, fine_private_chunks=False),
    "chunk 640": dict(chunk=640, fine_private_chunks=False),
    "chunk 768": dict(chunk=768, fine_private_chunks=False),
}


if __name__ == "__main__":
    run_variants(__file__, __doc__, VARIANTS)
