"""Experiment: private tails chunked by the private-tail rule in a config that also holds
shared packs (chunk classes, session 37), against one chunk length per config (the rule before).

    python benchmarks/experiments/chunks/tails_apart.py 1,3_256,3000 1,4_256,3000 ...

Why: the Mooncake replay's steps at 3-4 running requests took 5-6% longer on pat's server than
on flashinfer's, in sessions 30 and 37, with the same tokens in those batches
(``benchmarks/steps_by_batch.py``). Every replayed prompt starts with the same hash block
(about 260 tokens), so those batches share one prefix. At G = 4 a pack of 3-4 requests (12-16
rows) takes the 16-row tile, the private tails' config, and that config's one chunk length
then came from the shared-pack rule (the plain maximum, not whole waves): ``1,4_256,3000``
made 49 items and 52 partials where ``4_3256`` makes 28 and 28. Variants, the same batch:
- ``apart``: the default (``PackScheduler.private_tails_chunked_apart``: the private tiles get
  chunk classes of their own when they hold most of the launch's work);
- ``together``: ``private_tails_chunked_apart = False``, the rule before;
- ``no sharing``: the batch planned with no shared node (what FlashInfer decode reads);
alternated ``--rounds`` times in CUDA graphs after the flush, merge included, beside FlashInfer
decode, each with the server's partial budget. One JSON line a shape (own process).

Session 37 (one H200; ``../../results/2026-12-02-NVIDIA-H200/session37-kernels/tails_apart.jsonl``;
µs a layer, mean of 3 rounds; 32 q / 8 KV heads). The run's ``apart`` put every private tile
in a class of its own; the committed rule (work criterion) gives exactly the faster plan of
each row: ``apart`` on the first four, ``together`` on the gsp batch (checked on the CPU):

| batch | apart | together | no sharing | FlashInfer decode |
|---|---:|---:|---:|---:|
| ``1,3_256,3000`` | 25.6 (19 items) | 35.2 (37) | 24.2 | 24.5 |
| ``1,4_256,3000`` | 28.4 (25) | 37.1 (49) | 27.7 | 28.5 |
| ``1,4_256,2500`` | 26.2 (21) | 35.0 (41) | 25.1 | 25.0 |
| ``1,3_256,6000`` | 38.4 (19) | 48.8 (73) | 37.7 | 35.4 |
| ``gsp:64x16:2048+178:b256:s0`` | 207.5 (160) | **203.4** (128) | 501.7 | 332.0 |

Still open: the 256-token pack of 3-4 requests is 0.7-1.4 µs slower than no pack at all, and
in the replay (a 260-token prefix) the pack's span is cut into 256 + 4 tokens.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_variants import run_variants  # noqa: E402

VARIANTS = {
    "apart": {},
    "together": dict(private_tails_chunked_apart=False),
    "no sharing": dict(sharing=False),
}


if __name__ == "__main__":
    run_variants(__file__, __doc__, VARIANTS)
