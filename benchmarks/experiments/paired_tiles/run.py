"""Experiment: the paired-tiles shared part in the lean pair, against the product, on the H200.

    python3 benchmarks/experiments/paired_tiles/run.py [SHAPE ...] [--chunks 1024,512]
        [--block-n 64,32] [--producer 128] [--producer-pairs 168] [--ungated] [--seconds 3]
        [--rounds 2]
        [--commit SHA] [--out FILE.json]

Per shape (default gsp 4 × 32's batch ``4,128_4096,256`` and its prefixes alone,
``4,128_4096,16``), each provider's layer first runs once eagerly and its output is compared
with the product's (pat, the Triton shared part); a provider off by more than ``TOLERANCE``
is reported and not measured. Then ``../energy/run.py``'s method: CUDA graphs over four K/V
copies replayed back to back, µs and mJ a call at the power cap, rounds alternating the
providers. Providers:
- ``pat`` (the product) and ``pat-sm90`` (the product's Gluon shared part, one 64-row tile a
  program, in the graphs too);
- per chunk of ``--chunks`` (the shared items' chunk forced, ``profile_pat.decoder_with_chunk``):
  ``pat-sm90`` at that chunk, and the paired kernel (``kernel.py``) at each ``--block-n``. At
  1024 gsp 4 × 32's prefixes give 16 pairs × 8 KV heads = 128 units, one an SM; the plan's own
  2048 would give 64;
- per maxnreg of ``--producer``: ``../producer_warp/``'s kernel (the gathers in a producer
  partition) at the plan's own chunks; per maxnreg of ``--producer-pairs``, its build with
  two math warpgroups on each pair of items of one chunk (``item_pairs``), 12 warps, at the
  plan's own chunks and at each of ``--chunks``.
``--ungated`` turns the lean gate off, so that shapes whose tails it keeps whole (the prefixes
alone) run as the lean pair too.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "producer_warp"))
from launch import use_paired  # noqa: E402
from producer_launch import use_producer_warp  # noqa: E402
from profile_pat import decoder_with_chunk  # noqa: E402
from providers import HEAD_DIM, Batch, make_decoder, ungated  # noqa: E402
from workloads import workload_for  # noqa: E402

from sglang_pat.cost_model import TileMenu, default_tile_menu  # noqa: E402

TOLERANCE = 2e-2  # bf16 outputs; the product's sm90 part is within 2.4e-4 of its Triton part


def energy_module():
    """``../energy/run.py`` (its Nvml, graph_of, measure_rounds, kv_copies)."""
    spec = importlib.util.spec_from_file_location("energy_run", HERE.parent / "energy" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ENERGY = energy_module()


def ungated_menu(batch: Batch) -> TileMenu:
    """The default menu with the lean gate off: every plan with shared and private items runs
    as the lean pair, as a shape whose tails the gate keeps whole (the prefixes alone) needs
    for its shared part to be the paired kernel or the Gluon one."""
    return ungated(default_tile_menu(HEAD_DIM, batch.q.shape[1] // batch.k.shape[1]))


def decoders(
    batch: Batch,
    chunks: list[int],
    block_ns: list[int],
    menu: TileMenu | None,
    producer_maxnregs: list[int],
    pair_maxnregs: list[int],
) -> dict:
    """Each provider's decoder, planned for a graph, and what makes its shared part an
    experiment's kernel (None: the product's)."""
    made = {"pat": (make_decoder(batch, menu), None)}
    made["pat-sm90"] = (make_decoder(batch, menu, sm90_shared=True), None)
    for maxnreg in producer_maxnregs:
        made[f"producer warp, maxnreg {maxnreg}"] = (
            make_decoder(batch, menu, sm90_shared=True),
            functools.partial(use_producer_warp, maxnreg=maxnreg),
        )
    for maxnreg in pair_maxnregs:
        made[f"producer warp, pairs, maxnreg {maxnreg}"] = (
            make_decoder(batch, menu, sm90_shared=True),
            functools.partial(use_producer_warp, maxnreg=maxnreg, pairs=True),
        )
    for chunk in chunks:
        made[f"pat-sm90, chunk {chunk}"] = (
            decoder_with_chunk(batch, menu, chunk, sm90_shared=True),
            None,
        )
        for block_n in block_ns:
            made[f"paired, chunk {chunk}, {block_n}-key blocks"] = (
                decoder_with_chunk(batch, menu, chunk, sm90_shared=True),
                functools.partial(use_paired, block_n=block_n),
            )
        for maxnreg in pair_maxnregs:
            made[f"producer warp, pairs, maxnreg {maxnreg}, chunk {chunk}"] = (
                decoder_with_chunk(batch, menu, chunk, sm90_shared=True),
                functools.partial(use_producer_warp, maxnreg=maxnreg, pairs=True),
            )
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("shapes", nargs="*", default=["4,128_4096,256", "4,128_4096,16"])
    parser.add_argument("--chunks", default="1024,512")
    parser.add_argument("--block-n", default="64,32")
    parser.add_argument(
        "--producer", default="", help="also ../producer_warp/'s kernel at these maxnreg, e.g. 128"
    )
    parser.add_argument(
        "--producer-pairs",
        default="",
        help="also its two-consumer build (a pair of items a unit) at these maxnreg, e.g. 168",
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--ungated", action="store_true", help="the lean gate off: every provider splits"
    )
    parser.add_argument(
        "--commit", default=os.environ.get("PAT_COMMIT", "unknown"), help="recorded as measured"
    )
    args = parser.parse_args()
    chunks = [int(c) for c in args.chunks.split(",") if c]
    block_ns = [int(b) for b in args.block_n.split(",") if b]
    producers = [int(m) for m in args.producer.split(",") if m]
    pair_producers = [int(m) for m in args.producer_pairs.split(",") if m]
    nvml = ENERGY.Nvml()
    result: dict = dict(
        gpu=torch.cuda.get_device_name(),
        commit=args.commit,
        date=datetime.date.today().isoformat(),
        command=" ".join(["python3", *sys.argv]),
        lean_gate="off" if args.ungated else "on",
    )
    for shape in args.shapes:
        batch = Batch(workload_for(shape), 32, 8)
        copies = ENERGY.kv_copies(batch)
        reference = None
        rows: dict[str, dict] = {}
        replays = {}
        menu = ungated_menu(batch) if args.ungated else None
        for name, (decoder, use) in decoders(
            batch, chunks, block_ns, menu, producers, pair_producers
        ).items():
            if name != "pat":
                if not (decoder.sm90_shared and decoder.splits):
                    print(f"{shape} {name}: skipped (no sm90 part, or the plan is kept whole)")
                    continue
            if use is not None:
                use(decoder)
            out = torch.empty_like(batch.q)
            decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
            torch.cuda.synchronize()
            if reference is None:
                reference = out.float().clone()
            diff = float((out.float() - reference).abs().max())
            rows[name] = dict(max_abs_diff_vs_pat=diff, partials=decoder.plan.num_partials)
            if not diff <= TOLERANCE:  # NaN fails too
                print(f"{shape} {name}: max |out - pat| = {diff:.3g}, not measured", flush=True)
                continue
            calls = [
                lambda d=decoder, k=k, v=v, o=out: d.forward(
                    batch.q, k, v, o, sm_scale=batch.sm_scale
                )
                for k, v in copies
            ]
            replays[name] = ENERGY.graph_of(calls)  # (it keeps the calls, and the decoder)
        runs = ENERGY.measure_rounds(nvml, replays, args.rounds, args.seconds)
        for name, measured in runs.items():
            for key in ("us", "mj", "watts", "sm_mhz"):
                rows[name][key] = statistics.median(r[key] or 0 for r in measured)
            row = rows[name]
            print(
                f"{shape:16s} {name:34s} {row['us']:7.1f} µs {row['mj']:7.2f} mJ "
                f"{row['watts']:5.0f} W {row['sm_mhz']:5.0f} MHz  "
                f"|Δ| {row['max_abs_diff_vs_pat']:.2g}  partials {row['partials']}",
                flush=True,
            )
        result[shape] = rows
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
