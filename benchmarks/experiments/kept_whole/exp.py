"""Experiment: what a plan that the lean gate keeps whole pays under CUDA graphs.

    python benchmarks/experiments/kept_whole/exp.py SHAPE[@Q,KV] ... [--rounds 3]

A graph is captured once, so a graph-planned step launches the shared-part build (on every
program when the plan is kept whole) and, forked beside it, the private-part build with no
items. Session 18 measured such plans up to 9.6% slower than the lean kernel off. Each shape
runs in a process of its own. Side by side in CUDA graphs after an L2 flush (pack and
merge, as ``bench_kernels.py``), on the same planned buffers:

- ``all``: the all-items build alone (the lean kernel off, or an eager kept-whole step);
- ``shared``: the shared-part build alone (same items, PART differs, largest carveout);
- ``shared+fork``: what a graph runs (``PatDecoder.forward``): the empty private launch
  forked first, then the shared build;
- ``shared-first+fork``: the same with the shared build issued before the fork;
- ``shared+serial``: the empty private launch on the main stream, then the shared build;
- ``one-launch``: the lean kernel off (its own decoder and plan), the baseline for split
  plans too, where ``all`` and ``shared`` run the shared items only.

With ``--carveout-process``, a second process per shape (``--carveout``) asks for the
largest carveout on the all-items build first (the attribute stays for the process) and times
``all`` (now with it) beside ``shared+fork``. One JSON line per shape and process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def one(shape: str, rounds: int, carveout: bool) -> dict:
    import numpy as np
    import torch
    from graph_timing import side_by_side_us
    from providers import HEAD_DIM, batch_for, make_decoder
    from sglang_pat.kernels.launch import merge_states, pack_decode, prefer_max_shared_carveout

    from sglang_pat.cost_model import default_tile_menu

    batch = batch_for(shape)
    decoder = make_decoder(batch)  # the default menu: the gated lean kernel
    assert decoder.menu.lean is not None
    group = batch.q.shape[1] // batch.k.shape[1]
    decoders = {"one-launch": make_decoder(batch, default_tile_menu(HEAD_DIM, group, lean=False))}
    header = decoder.header.cpu().tolist()
    out = torch.empty_like(batch.q)
    args = (batch.q, batch.k, batch.v, out, decoder.kv_indices, decoder.items, decoder.members)
    args += (decoder.header, decoder.queue, decoder.partial_o, decoder.partial_lse)
    options = dict(menu=decoder.menu, sm_scale=batch.sm_scale, check=False)
    outs: dict[str, torch.Tensor] = {}
    side = torch.cuda.Stream()
    fork, join = torch.cuda.Event(), torch.cuda.Event()

    def launch(part: str):
        programs = decoder.num_private_programs if part == "private" else decoder.num_programs
        return pack_decode(*args, num_programs=programs, part=part, **options)

    def merge() -> None:
        merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)

    def forked(shared_first: bool):
        def fn() -> None:
            main = torch.cuda.current_stream()
            fork.record(main)
            if shared_first:
                launch("shared")
            side.wait_event(fork)
            with torch.cuda.stream(side):
                launch("private")
            if not shared_first:
                launch("shared")
            join.record(side)
            main.wait_event(join)
            merge()

        return fn

    fns = {
        "all": lambda: (launch("all"), merge()),
        "shared+fork": lambda: decoder.forward(
            batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale
        ),
    }
    if carveout:
        prefer_max_shared_carveout(launch("all"))
    else:
        fns["shared"] = lambda: (launch("shared"), merge())
        fns["shared-first+fork"] = forked(True)
        fns["shared+serial"] = lambda: (launch("private"), launch("shared"), merge())
        for name, other in decoders.items():
            outs[name] = torch.full_like(batch.q, float("nan"))
            fns[name] = lambda d=other, o=outs[name]: d.forward(
                batch.q, batch.k, batch.v, o, sm_scale=batch.sm_scale
            )
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    times = side_by_side_us(fns, flush, rounds)
    return dict(
        shape=shape,
        carveout_on_all=carveout,
        header=header,
        kept_whole=header[2] == 0,
        us={name: float(np.median(t)) for name, t in times.items()},
    )


def main() -> None:
    from graph_timing import json_line_of_own_process, shape_experiment_parser

    parser = shape_experiment_parser(__doc__)
    parser.add_argument("--carveout", action="store_true")
    parser.add_argument(
        "--carveout-process",
        action="store_true",
        help="also the second process per shape (session 19 ran it: the carveout costs nothing)",
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.shapes[0], args.rounds, args.carveout)), flush=True)
        return
    for shape in args.shapes:
        for carveout in ([], ["--carveout"]) if args.carveout_process else ([],):
            rounds = ["--rounds", str(args.rounds)]
            print(json_line_of_own_process(__file__, shape, *rounds, *carveout), flush=True)


if __name__ == "__main__":
    main()
