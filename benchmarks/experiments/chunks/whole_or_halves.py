"""Experiment: no-sharing batches of 24 equal requests, whole requests against two, three or
four chunks each.

    python benchmarks/experiments/chunks/whole_or_halves.py 24_1536 24_2300 24_3000   (H200)
    python benchmarks/experiments/chunks/whole_or_halves.py --model 24_1536 ...       (CPU)

Why: since the fine chunks became the default (session 41) the planner cuts each request of
``24_L`` into four chunks (``24_2300``: 640 tokens, 96 items x 8 KV heads = 768 units, 2.9
waves of the 264 programs, and 96 partials to merge), which session 42 measured 4-10% slower
than the whole requests the powers of two kept (192 units, one wave at 0.73 of the programs,
no merge) and 10-16% slower than FlashInfer decode (``one_wave.py``; the whole requests 1.10x
FlashInfer's time). Whether a cut between those (two or three chunks a request: 1.5-2.2
waves) beats both says whether the planner's charge for the underfilled wave or its cut
candidates are what to change.

Variants, one decoder each, the same batch: ``default`` (fine chunks), ``powers`` (fine chunks
off: the whole requests here) and every class forced to 768, 1,024, 1,152 and 1,536 tokens
(``plan_variants.force_chunk``; halves of ``24_1536``, thirds of ``24_2300`` at 768 and its
halves at 1,152, halves of ``24_3000`` at 1,536) and whole requests (forced to 4,096: the
powers' plan on ``24_L`` again, so the run's spread between identical plans shows),
alternated ``--rounds`` times in CUDA graphs after the flush, merge included, beside
FlashInfer decode. One JSON line a shape (own process).

``--model`` (CPU): each batch's plans on ``ticket_model.py``'s fitted launch model (session
40's fit, as ``model_regret.py`` and ``one_wave.py`` use it), before the GPU has timed them
(session 42, ``results/whole_or_halves-model-session42.txt``): the whole requests fastest on
``24_L`` (``24_2300`` 69.1 µs against the default's 83.8 and two chunks' 76.3-77.6), level
with three chunks on ``20_2300``; the model is 2-6% fast on such one-wave whole requests and
up to 5% slow on the fine plans' three waves (``results/ticket_model-session42.txt``).

Session 43 (one H200, bb462f3; ``../../results/2026-12-02-NVIDIA-H200/session43-kernels/
whole_or_halves.jsonl``), µs a layer, mean of 3 rounds (items: ``session43.md`` there):

| batch | default | powers | 768 | 1,024 | 1,152 | 1,536 | whole | FlashInfer decode |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| ``24_2300`` | 78.5 | 74.4 | 87.0 | 84.5 | 84.3 | 82.2 | 74.3 | 67.8 |
| ``24_1536`` | 58.9 | 53.4 | 61.3 | 60.2 | 59.5 | 54.2 | 55.1 | 50.7 |
| ``24_3000`` | 95.7 | 91.7 | 95.2 | 104.9 | 103.2 | 101.2 | 94.8 | 83.4 |
| ``20_2300`` | 69.2 | 73.5 | 69.1 | 73.4 | 81.7 | 77.8 | 69.7 | 60.5 |
| ``28_2300`` | 83.5 | 83.1 | 91.8 | 90.3 | 89.1 | 88.7 | 82.7 | 75.3 |

No cut of two or three chunks a request beats whole requests; whole is 0.935-0.991x the
default on ``24_L`` and level on ``20_2300``. The model's winner was right on all five, its
order among the cuts was not (two chunks of ``24_2300`` ahead of the default there, behind it
here). What to change is the one-wave charge, not the candidates (``one_wave.py``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_variants import run_variants  # noqa: E402

VARIANTS = {
    "default": dict(fine_private_chunks=True),
    "powers": dict(fine_private_chunks=False),
    **{f"chunk {n}": dict(chunk=n) for n in (768, 1024, 1152, 1536)},
    "whole": dict(chunk=4096),  # every request of up to 4,096 tokens in one chunk
}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--model"]:
        from model_regret import FIT
        from ticket_model import model_variants

        model_variants(sys.argv[2:], VARIANTS, FIT)
    else:
        run_variants(__file__, __doc__, VARIANTS)
