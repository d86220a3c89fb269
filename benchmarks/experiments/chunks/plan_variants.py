"""Experiment: other plans of the same batch side by side, for the suite's shapes where pat
trails most (``1,10_4096,416@64,8`` at 0.77x FlashInfer decode in session 32).

    python benchmarks/experiments/chunks/plan_variants.py 1,10_4096,416@64,8 1,10_4096,416

Why: at 64 q / 8 KV heads (GQA 8) the default plan cuts the 4,096 shared tokens of 10
requests (80 query rows) into two 64-row tiles x 16 chunks x 8 KV heads = 256 shared units
beside 80 private ones, where 32 q heads give one tile and 128 units (28.8 us against 46.6).
Variants, one decoder each, the same batch:
- ``default``: the default menu and plan (the lean kernel's pair where its gate splits);
- ``uncapped``: the default without ``PackScheduler.max_shared_units`` (shared units not
  capped at one per SM, as before branch shared-wave);
- ``lean off``: the same menu without the lean kernel (one launch);
- ``floor 512``: ``PackScheduler.min_chunk_tokens`` raised (every config's units longer);
- ``shared floor 512`` / ``1024`` / ``2048``: ``PackScheduler.min_shared_chunk_tokens`` raised, the
  configs with shared packs only (session 33's first run: ``floor 512`` took 22-24% off
  ``1,10_4096,416`` at both head configs, whose private tails are one chunk either way);
- ``no sharing``: the batch planned from ``PrefixForest.no_sharing`` (every request reads its
  whole KV), which is what FlashInfer decode does.
Every decoder has the server's budget of partial slots (session 33's first two runs had the
benchmarks' 32 a request, under which the 8,192-token prefixes' default plans fell back to
no sharing). Alternated ``--rounds`` times in CUDA graphs after the flush, merge included,
beside FlashInfer decode. One JSON line a shape (own process): µs per round, each plan's
items and partials, max |out - FlashInfer's out|.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from graph_timing import decoder_fns, run_shape_experiment  # noqa: E402
from providers import HEAD_DIM, batch_for, beside_flashinfer_decode, make_decoder  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402
from sglang_pat.decoder import SERVER_MAX_PARTIALS  # noqa: E402
from sglang_pat.forest import PrefixForest  # noqa: E402

VARIANTS = {  # name: changes from the default (``lean``, ``sharing``, PackScheduler settings)
    "default": {},
    "uncapped": dict(max_shared_units=None),
    "lean off": dict(lean=False),
    "floor 512": dict(min_chunk_tokens=512),
    "shared floor 512": dict(min_shared_chunk_tokens=512),
    "shared floor 1024": dict(min_shared_chunk_tokens=1024),
    "shared floor 2048": dict(min_shared_chunk_tokens=2048),
    "no sharing": dict(sharing=False),
}


def force_chunk(scheduler, length: int) -> None:
    """Every chunk class with tiles cut at ``length`` tokens, whatever the cost model picks
    (cold plans only: the lazy update keeps the candidates' counts, not this)."""
    choose = scheduler._rule.chunks

    def forced(*args, **kwargs) -> list[int]:
        return [length if chunk else 0 for chunk in choose(*args, **kwargs)]

    scheduler._rule.chunks = forced


def variants_beside_flashinfer(shape: str, rounds: int, variants: dict[str, dict]) -> dict:
    """Each variant's plan of ``shape`` (its changes from the default: ``lean``, ``sharing``,
    ``cost``, ``chunk`` (``force_chunk``), PackScheduler settings) timed side by side beside
    FlashInfer decode."""
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    decoders, plans = {}, {}
    for name, change in variants.items():
        settings = dict(change)
        lean, sharing = settings.pop("lean", True), settings.pop("sharing", True)
        menu = default_tile_menu(HEAD_DIM, group, lean=lean)
        decoder = make_decoder(
            batch,
            menu,
            plan=False,
            cost=settings.pop("cost", None),
            max_partials=SERVER_MAX_PARTIALS,
        )
        forced = settings.pop("chunk", None)
        if forced is not None:
            force_chunk(decoder.scheduler, forced)
        for key, value in settings.items():
            setattr(decoder.scheduler, key, value)
        forest = batch.forest if sharing else PrefixForest.no_sharing(batch.forest.seq_lens)
        plan = decoder.plan_step(forest, batch.pool_rows, batch.req_to_token, for_graph=True)
        plans[name] = dict(
            items=int(plan.items.shape[0]),
            partials=int(plan.num_partials),
            split=bool(decoder.splits),
        )
        decoders[name] = decoder
    fns, outs = decoder_fns(batch, decoders)
    return dict(shape=shape, plans=plans, **beside_flashinfer_decode(batch, fns, outs, rounds))


def run_variants(script: str, doc: str, variants: dict[str, dict]) -> None:
    """An experiment's command line (``run_shape_experiment``): ``variants`` on each shape,
    beside FlashInfer decode (``variants_beside_flashinfer``)."""
    run_shape_experiment(
        script, doc, lambda shape, rounds: variants_beside_flashinfer(shape, rounds, variants)
    )


if __name__ == "__main__":
    run_variants(__file__, __doc__, VARIANTS)
