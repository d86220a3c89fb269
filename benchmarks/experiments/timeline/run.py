"""Experiment: where a pack launch's time goes, unit by unit (per-unit %globaltimer stamps).

python benchmarks/experiments/timeline/run.py OUT_DIR [--order ORDER] [--kernel MODULE]
    [WORKLOAD[@Q,KV] ...]

ORDER: the item order programs take, as in order.py (stock, private-first, interleaved, lpt).
MODULE: a timed variant of ``variants.py`` (default pack_decode_timed; pack_decode_timed_split).

Runs ``pack_decode_timed`` (the stock kernel plus stamps, made by ``variants.py``) through the
stock planner and launcher on the bench's batches, in a CUDA graph after an L2 flush (as
``bench_kernels.py``), no merge. Prints, per kind of unit (packed tails, private items, shared
items by tile): units, mean µs from unit start to its item record, in the KV loop, and per KV
block; the launch's span; when each kind's last unit ends; and the programs' idle time at the
end. Raw stamps go to OUT_DIR/<workload>.npz. The stock and timed kernels' µs are printed
side by side: the stamps' own cost.
"""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))
import sglang_pat.kernels.launch as launch  # noqa: E402
import variants  # noqa: E402
from graph_timing import graph_time_us  # noqa: E402
from order import orders  # noqa: E402
from providers import batch_for, make_decoder  # noqa: E402

STOCK = launch._pack_decode_kernel


class _WithTimes:
    """Stands in for the launcher's kernel: the timed kernel with the stamp buffer added."""

    def __init__(self, kernel, times: torch.Tensor):
        self.kernel, self.times = kernel, times

    def __getitem__(self, grid):
        kernel = self.kernel[grid]
        return lambda *args, **kwargs: kernel(*args, times_ptr=self.times, **kwargs)


def main() -> None:
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    args = sys.argv[2:]
    order, module = "stock", "pack_decode_timed"
    while args[:1] in (["--order"], ["--kernel"]):
        if args[0] == "--order":
            order = args[1]
        else:
            module = args[1]
        args = args[2:]
    timed = variants.load(module)._pack_decode_kernel
    print(f"kernel: {module}, order: {order}", flush=True)
    shapes = args or ["1,64_4096,512", "1,256_2048,32", "4,128_4096,256", "64_512"]
    flush = torch.empty(2**28, dtype=torch.uint8, device="cuda")
    for shape in shapes:
        time_shape(shape, out_dir, flush, order, timed)
        torch.cuda.empty_cache()


def time_shape(shape: str, out_dir: Path, flush: torch.Tensor, order: str, timed) -> None:
    batch = batch_for(shape)
    decoder = make_decoder(batch)
    decoder.merge_needed = False
    plan = decoder.plan
    plan = dataclasses.replace(plan, items=plan.items[orders(plan.items, decoder)[order]])
    decoder.upload(plan, batch.req_to_token)
    units = plan.items.shape[0] * batch.k.shape[1]
    times = torch.zeros(units, 8, dtype=torch.int64, device="cuda")
    out = torch.empty_like(batch.q)

    def run():
        decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)

    launch._pack_decode_kernel = STOCK
    stock_us = graph_time_us(run, flush)
    run()
    used = plan.num_partials
    stock_out, stock_partials = out.float().clone(), decoder.partial_o[:used].clone()
    launch._pack_decode_kernel = _WithTimes(timed, times)
    timed_us = graph_time_us(run, flush)  # the last replay's stamps stay in ``times``
    launch._pack_decode_kernel = STOCK
    # no merge ran: compare the outputs and partials the pack kernel wrote
    diff_out = float((out.float() - stock_out).abs().max())
    diff_partials = float((decoder.partial_o[:used] - stock_partials).abs().amax()) if used else 0.0
    print(f"  max |timed - stock|: output {diff_out:.1e}, partials {diff_partials:.1e}")
    stamps = times.cpu().numpy()
    name = shape.replace(",", "-").replace("@", "_") + ("" if order == "stock" else f"-{order}")
    np.savez(out_dir / f"{name}.npz", stamps=stamps, items=plan.items)
    report(shape, stamps, plan.items, decoder, stock_us, timed_us)


def report(shape, stamps, items, decoder, stock_us, timed_us) -> None:
    program, start, record, loop_end, done = (stamps[:, i] for i in range(5))
    tile = stamps[:, 7]
    t0 = start.min()
    span = (done.max() - t0) / 1e3
    print(f"== {shape}: stock {stock_us:.1f} us, timed {timed_us:.1f} us, span {span:.1f} us, "
          f"{len(stamps)} units on {decoder.num_programs} programs", flush=True)  # fmt: skip
    kv_len = items[stamps[:, 5], 1]
    tiles = decoder.menu.tiles
    for kind in sorted(set(tile.tolist())):
        sel = tile == kind
        block_n = tiles[0].block_n if kind < 0 else tiles[kind].block_n
        name = "tails" if kind < 0 else f"tile{kind} {tiles[kind].block_m}x{block_n}"
        if kind < 0:  # packed tails: each block holds block_n / members keys of each member
            block_n //= tiles[0].block_m // decoder.scheduler.group_size
        blocks = np.maximum(1, -(-kv_len[sel] // block_n))
        rec = (record[sel] - start[sel]) / 1e3
        loop = (loop_end[sel] - record[sel]) / 1e3
        tail = (done[sel] - loop_end[sel]) / 1e3
        print(
            f"  {name:16s} units {sel.sum():5d}  record {rec.mean():5.2f} us  loop "
            f"{loop.mean():6.2f} us (min {loop.min():5.1f} max {loop.max():6.1f}) for "
            f"{blocks.mean():5.1f} blocks = {(loop / blocks).mean():5.2f} us/block; epilogue "
            f"{tail.mean():4.2f}; first start {(start[sel].min() - t0) / 1e3:5.1f}, last end "
            f"{(done[sel].max() - t0) / 1e3:5.1f} us",
            flush=True,
        )
    # per program: busy time, gaps between its units, idle time at the end
    order = np.lexsort((start, program))
    p, s, d = program[order], start[order], done[order]
    same = p[1:] == p[:-1]
    gaps = (s[1:] - d[:-1])[same] / 1e3
    last = {int(q): int(dd) for q, dd in zip(p, d)}
    idle_end = np.array([(done.max() - v) / 1e3 for v in last.values()])
    busy = np.bincount(program, weights=(done - start) / 1e3)
    print(
        f"  gaps between a program's units: mean {gaps.mean() if gaps.size else 0:.2f} us; "
        f"programs used {len(last)}; idle at the end: mean {idle_end.mean():.1f}, median "
        f"{np.median(idle_end):.1f} us; busy {busy.sum() / 1e3:.1f} program-ms of "
        f"{span * len(last) / 1e3:.1f}",
        flush=True,
    )
    # occupancy over time: units in flight per kind, in 10% steps of the span
    edges = t0 + np.linspace(0, span * 1e3, 11)
    line = []
    for lo in edges[:-1]:
        mid = lo + span * 1e3 / 20
        live = (start <= mid) & (done >= mid)
        line.append(f"{int((live & (tile == 2)).sum())}/{int((live & (tile != 2)).sum())}")
    print("  in flight (shared tile2 / other) at 5%,15%,..:", " ".join(line), flush=True)


if __name__ == "__main__":
    main()
