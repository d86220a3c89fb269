"""Experiment: where the time goes when a batch's private tails are cut in two or kept whole
beside its shared units (session 35's ``tails_beside_shared.py`` run).

    python benchmarks/experiments/chunks/cut_or_whole.py 1,8_4096,480@64,8 1,10_2048,416 ...

Why: at (64, 8) with a 4,096-token prefix, cutting 8-10 requests' 416-480-token tails in two
took 11 µs longer than keeping them whole (``1,8_4096,480@64,8`` 37.6 against 26.7 µs), though
every unit runs at once either way; at (32, 8) behind 512-2,048-token prefixes the cut was
1.6-2.4 µs faster. Each plan (``default``: the installed cost model; ``waves``:
``tails_beside_shared.WholeWaves``, the rule before session 34) is timed three ways, in CUDA
graphs after the flush: as served (pack kernel and merge), the pack kernel alone (no merge), and
as served without the programmatic-dependent merge (PDL off). One JSON line a shape.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from graph_timing import graph_time_us, run_shape_experiment  # noqa: E402
from providers import HEAD_DIM, batch_for, make_decoder  # noqa: E402
from tails_beside_shared import WholeWaves  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402
from sglang_pat.decoder import SERVER_MAX_PARTIALS  # noqa: E402


def one(shape: str, rounds: int) -> dict:
    batch = batch_for(shape)
    group = batch.q.shape[1] // batch.k.shape[1]
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    out = torch.empty_like(batch.q)
    result: dict = dict(shape=shape, gpu=torch.cuda.get_device_name())
    for name, cost in (("default", None), ("waves", WholeWaves())):
        decoder = make_decoder(
            batch, default_tile_menu(HEAD_DIM, group), cost=cost, max_partials=SERVER_MAX_PARTIALS
        )
        plan = decoder.plan
        private = plan.items[plan.num_shared_items :]
        run = lambda d=decoder: d.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
        times: dict[str, list[float]] = {"served": [], "pack only": [], "pdl off": []}
        pdl = decoder._pdl
        for _ in range(rounds):
            decoder.merge_needed, decoder._pdl = True, pdl
            times["served"].append(graph_time_us(run, flush))
            decoder.merge_needed = False
            times["pack only"].append(graph_time_us(run, flush))
            decoder.merge_needed, decoder._pdl = True, False
            times["pdl off"].append(graph_time_us(run, flush))
        result[name] = dict(
            items=int(plan.items.shape[0]),
            shared_items=int(plan.num_shared_items),
            private_lens=sorted(set(private[:, 1].tolist())),
            partials=int(plan.num_partials),
            lean=bool(decoder.lean_needed),
            pdl=bool(pdl),
            us=times,
        )
    return result


if __name__ == "__main__":
    run_shape_experiment(__file__, __doc__, one)
