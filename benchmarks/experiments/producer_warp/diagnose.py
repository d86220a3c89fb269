"""One provider of ../paired_tiles/run.py, step by step (eager, warm-up, capture, replay), each
followed by a synchronize, so that a fault is pinned to its step.

python3 benchmarks/experiments/producer_warp/diagnose.py SHAPE PROVIDER [--ungated] [--copies N]
"""

import argparse
import importlib.util
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("paired_run", HERE.parent / "paired_tiles" / "run.py")
RUN = importlib.util.module_from_spec(spec)
spec.loader.exec_module(RUN)


def step(label: str, fn) -> None:
    fn()
    torch.cuda.synchronize()
    print(f"ok: {label}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shape")
    parser.add_argument("providers", help="names separated by '|', built and captured in order")
    parser.add_argument("--ungated", action="store_true")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--maxnreg", type=int, default=128)
    parser.add_argument("--replays", type=int, default=10, help="each graph's last, back to back")
    args = parser.parse_args()
    batch = RUN.Batch(RUN.workload_for(args.shape), 32, 8)
    menu = RUN.ungated_menu(batch) if args.ungated else None
    made = RUN.decoders(batch, [], [], menu, [args.maxnreg], [args.maxnreg])
    copies = RUN.ENERGY.kv_copies(batch)[: args.copies]
    graphs = {}
    for name in args.providers.split("|"):
        decoder, use = made[name]
        if use is not None:
            use(decoder)
        print(name, "plan:", decoder.plan.num_shared_items, "shared items,",
              decoder.scheduler.num_shared_part_programs, "programs", flush=True)  # fmt: skip
        out = torch.empty_like(batch.q)

        def call(k, v, decoder=decoder, out=out):
            decoder.forward(batch.q, k, v, out, sm_scale=batch.sm_scale)

        step(f"{name}: eager", lambda: call(batch.k, batch.v))
        for index, (k, v) in enumerate(copies):
            step(f"{name}: eager on copy {index}", lambda k=k, v=v: call(k, v))
        graphs[name] = RUN.ENERGY.graph_of([lambda k=k, v=v: call(k, v) for k, v in copies])
        step(f"{name}: replay right after capture", graphs[name].replay)
    for name, graph in graphs.items():
        step(f"{name}: replay after all captures", graph.replay)
    for name, graph in graphs.items():
        replays = range(args.replays)
        step(f"{name}: replay {args.replays} times", lambda g=graph: [g.replay() for _ in replays])


if __name__ == "__main__":
    main()
