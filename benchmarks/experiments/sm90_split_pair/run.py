"""Experiment: what a graph without the switch costs when the sm90 shared part splits every
plan the pair replays (session 77).

python benchmarks/experiments/sm90_split_pair/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

Since session 77 the sm90 shared part has no packed-tails path, so beside it the pair's
header splits every plan, one the lean gate keeps whole too (``PatDecoder.stage``), and the
part runs in any graph. Until then, where SGLang stored the new K/V, a graph without the
switch (``SGLANG_PAT_GRAPH_SWITCH=0``) captured the pair with the Triton shared part, which
ran a kept-whole plan's every item; beside the kernels' store the header split already (since
session 74). Timed side by side in CUDA graphs after the flush (``graph_timing``), attention
alone, SGLang storing (no ``new_kv``), outputs checked against the first:

- ``triton pair``: the pair as such a graph ran it before (Triton shared part; whole header
  where the gate keeps the plan whole);
- ``sm90 pair``: the pair as it runs now (sm90 shared part, the header split);
- ``one launch``: the all-items launch, which a switchable graph (the default) runs for a
  plan kept whole; the pair's form for a split one.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
from graph_timing import (  # noqa: E402
    PAIR_SHAPES,
    checked_medians,
    decoder_fns,
    items_text,
    run_shapes,
)
from layer import against_first  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402

SHAPES = PAIR_SHAPES + ["64_4096", "128_2176", "1,32_4096,256"]


def run_shape(shape: str, flush) -> None:
    batch = batch_for(shape)
    triton_pair = make_decoder(batch)
    sm90_pair = make_decoder(batch, sm90_shared=True)
    if sm90_pair.sm90_shared_reason:
        raise SystemExit(f"sm90 shared part unavailable: {sm90_pair.sm90_shared_reason}")
    one_launch = make_decoder(batch, plan=False)
    one_launch.plan_step(batch.forest, batch.pool_rows, batch.req_to_token)  # eager: the gate's
    kept_whole = not triton_pair.splits
    plan = triton_pair.plan
    assert sm90_pair.header[0].item() == plan.num_shared_items  # split, kept whole or not
    decoders = {"triton pair": triton_pair, "sm90 pair": sm90_pair, "one launch": one_launch}
    fns, outs = decoder_fns(batch, decoders)
    medians, errors, line = checked_medians(fns, outs, tuple(decoders), flush)
    form = "kept whole" if kept_whole else "split"
    text = against_first(medians, errors)
    print(f"{shape} ({form}, {items_text(plan)}): {line}; {text}", flush=True)


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
