"""Experiment: joules, not microseconds — the energy of one decode layer's attention and GEMMs.

    python benchmarks/experiments/energy/run.py [SHAPE ...] [--seconds 5] [--rounds 2]
        [--shared-chunks 1024,2048] [--out FILE.json]

Both gsp servers decode at the H200's 700 W cap (``../power_cap/``), where a step takes its
energy divided by the cap: the decode ratio follows the energy per step, not the kernels' times.
This measures what a layer costs in energy. Each provider runs in a CUDA graph of ``COPIES``
calls, each on its own copy of the K/V (so the 50 MB L2 holds nothing of the next call, as in a
server whose next layer reads other buffers), replayed back to back for ``--seconds`` (in
``--rounds`` that alternate the providers) while the host keeps the GPU's queue full. NVML's
total-energy counter is read before and after (through ctypes: no pynvml on the device machine);
its SM clock and power are sampled between replays. Providers: pat (the product's decoder, in a
plain graph: the pair whatever the plan, as a server with SGLANG_PAT_GRAPH_SWITCH=0 runs it),
pat-forms (the plan's form alone, as the default server captures it since session 81; the
node switch's pat-switched, both forms in one graph, was retired with it in session 82), pat
with the Gluon sm90 shared part, FlashInfer decode (page 16), and the GEMMs of one Llama-3-8B
layer at M = the batch (QKV, O, gate-up, down; weights uniform in ±1e-3 as SGLang's dummy load),
and its LM head (4096 × 128,256).
The GPU's idle power (2 s asleep, first) is measured too: a server's static power is paid by
every kernel alike, so the rows give both the total and the part above idle.

Per shape it prints µs and mJ a call, mean W, median SM MHz; then, for the first shape, a step
model: 32 × (attention + GEMMs) + LM head for pat and FlashInfer, their ratio (the served decode
ratio follows it at the cap), and the attention energy pat would need for the ratio to reach 2.
(Session 70's runs predate the LM head: their model is 32 × (attention + GEMMs).)
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import datetime
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from graph_timing import timed_graphs, warm_up  # noqa: E402
from profile_pat import decoder_with_chunk  # noqa: E402
from provenance import measured_commit  # noqa: E402
from providers import (  # noqa: E402
    HEAD_DIM,
    Batch,
    make_decoder,
    pat_decoder,
    run_flashinfer_decode,
)
from workloads import workload_for  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402

COPIES = 4  # K/V copies a graph cycles through (4 × gsp 4 × 32's ~200 MB ≫ the 50 MB L2)
LAYERS = 32  # Llama-3-8B
HIDDEN, INTERMEDIATE, VOCAB = 4096, 14336, 128256
LAYER_GEMMS = [(HIDDEN, 6144), (HIDDEN, HIDDEN), (HIDDEN, 2 * INTERMEDIATE), (INTERMEDIATE, HIDDEN)]
LOAD_UNIT = 256  # tokens of the unique KV a pure-load unit reads (--floor)
LOAD_CONFIGS = ["row:16:3:4:2", "head:64:3:1:2"]  # private_bw's best of each kind


def private_bw_make_load():
    """``make_load`` of ``../private_bw/exp.py``: its pure-load kernel, no attention math."""
    path = Path(__file__).resolve().parents[1] / "private_bw" / "exp.py"
    spec = importlib.util.spec_from_file_location("private_bw_exp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_load


MAKE_LOAD = private_bw_make_load()


class Nvml:
    """The three NVML reads this needs, through libnvidia-ml's C API."""

    def __init__(self, index: int = 0) -> None:
        self.lib = ctypes.CDLL("libnvidia-ml.so.1")
        if self.lib.nvmlInit_v2():
            raise RuntimeError("nvmlInit_v2 failed")
        self.handle = ctypes.c_void_p()
        if self.lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(self.handle)):
            raise RuntimeError(f"no NVML handle for GPU {index}")

    def energy_mj(self) -> int:
        value = ctypes.c_ulonglong()
        if self.lib.nvmlDeviceGetTotalEnergyConsumption(self.handle, ctypes.byref(value)):
            raise RuntimeError("nvmlDeviceGetTotalEnergyConsumption failed")
        return value.value

    def sm_mhz(self) -> int:
        value = ctypes.c_uint()
        self.lib.nvmlDeviceGetClockInfo(self.handle, 1, ctypes.byref(value))  # NVML_CLOCK_SM
        return value.value

    def watts(self) -> float:
        value = ctypes.c_uint()
        self.lib.nvmlDeviceGetPowerUsage(self.handle, ctypes.byref(value))
        return value.value / 1000


class Replay(NamedTuple):
    """A CUDA graph of ``calls``, with the calls: a graph holds no reference to what its
    kernels read, so the calls (their decoders' plans and buffers) live as long as it does."""

    graph: torch.cuda.CUDAGraph
    calls: list

    def replay(self) -> None:
        self.graph.replay()


def measure(nvml: Nvml, replay: Replay, seconds: float) -> dict:
    """Replays ``replay`` back to back for ``seconds``: µs and mJ a call, mean W, SM MHz."""
    graph = replay.graph
    graph.replay()
    torch.cuda.synchronize()
    mhz, watts, pending = [], [], []
    start_event = torch.cuda.Event(enable_timing=True)
    end_event = torch.cuda.Event(enable_timing=True)
    start_energy, start = nvml.energy_mj(), time.perf_counter()
    start_event.record()
    replays = 0
    while time.perf_counter() - start < seconds:
        graph.replay()
        done = torch.cuda.Event()
        done.record()
        pending.append(done)
        replays += 1
        if len(pending) > 3:  # keep three replays queued ahead: the GPU never waits for us
            pending.pop(0).synchronize()
            mhz.append(nvml.sm_mhz())
            watts.append(nvml.watts())
    end_event.record()
    torch.cuda.synchronize()
    joules = (nvml.energy_mj() - start_energy) / 1000
    calls = replays * len(replay.calls)
    gpu_us = start_event.elapsed_time(end_event) * 1000
    return dict(
        calls=calls,
        us=gpu_us / calls,
        mj=joules * 1000 / calls,
        watts=joules / (gpu_us / 1e6),
        sm_mhz=statistics.median(mhz) if mhz else None,
        sampled_watts=statistics.median(watts) if watts else None,
    )


def idle_watts(nvml: Nvml, seconds: float) -> float:
    torch.cuda.synchronize()
    start_energy, start = nvml.energy_mj(), time.perf_counter()
    time.sleep(seconds)
    return (nvml.energy_mj() - start_energy) / 1000 / (time.perf_counter() - start)


def graph_of(calls: list) -> Replay:
    """``calls`` in one CUDA graph, captured by the kernel benchmark's ``timed_graphs`` (one
    rep, no flush), each decoder in its plan's form (``pat-forms``) or the pair's."""

    def in_order() -> None:
        for call in calls:
            call()

    for call in calls:
        warm_up(call)
    graph, _ = timed_graphs(in_order, flush=lambda: None, reps=1)
    return Replay(graph, calls)


def measure_rounds(
    nvml: Nvml, replays: dict[str, Replay], rounds: int, seconds: float
) -> dict[str, list[dict]]:
    """Each replay's ``measure`` ``rounds`` times. Rounds alternate the providers, so that a
    drift of the GPU's temperature (and with it the leakage power) falls on all of them alike."""
    runs: dict[str, list[dict]] = {name: [] for name in replays}
    for _ in range(rounds):
        for name, replay in replays.items():
            runs[name].append(measure(nvml, replay, seconds))
    return runs


def unique_kv_loads(batch: Batch, kv: tuple[torch.Tensor, torch.Tensor], config: str):
    """A pure-load call reading each KV slot the batch uses once (the bytes pat must read), in
    units of LOAD_UNIT tokens, with private_bw's kernel: the floor an attention kernel's
    memory traffic sets, measured at the cap like the providers."""
    used = batch.req_to_token[1:, : int(batch.seq_lens.max())]
    in_request = (
        torch.arange(used.shape[1], device="cuda")[None, :]
        < torch.from_numpy(batch.seq_lens).cuda()[:, None]
    )
    slots = torch.unique(used[in_request])
    units = slots.split(LOAD_UNIT)
    rows = torch.zeros(len(units) + 1, LOAD_UNIT, dtype=torch.int32, device="cuda")
    for index, unit in enumerate(units):
        rows[1 + index, : unit.shape[0]] = unit
    lens = np.array([unit.shape[0] for unit in units])
    loads = SimpleNamespace(k=kv[0], v=kv[1], seq_lens=lens, req_to_token=rows)
    return MAKE_LOAD(loads, config, torch.cuda.get_device_properties(0).multi_processor_count)


def kv_copies(batch: Batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The batch's K/V and COPIES - 1 clones: a graph's calls each read their own."""
    return [(batch.k, batch.v)] + [(batch.k.clone(), batch.v.clone()) for _ in range(COPIES - 1)]


def attention_calls(batch: Batch, shared_chunks: list[int], floor: bool) -> dict[str, list]:
    """Each provider's COPIES calls, call i on K/V copy i."""
    copies = kv_copies(batch)
    out = torch.empty_like(batch.q)
    calls: dict[str, list] = {}
    group = batch.q.shape[1] // batch.k.shape[1]
    one_launch = dataclasses.replace(default_tile_menu(HEAD_DIM, group), lean=None)
    variants = [  # name, the decoder's maker, whether it is the sm90 part's
        ("pat", lambda: make_decoder(batch), False),
        ("pat-sm90", lambda: make_decoder(batch, sm90_shared=True), True),
        ("pat-forms", lambda: pat_decoder(batch, forms=True), False),
        ("pat, one launch (no lean kernel)", lambda: make_decoder(batch, one_launch), False),
    ]
    variants += [
        (f"pat, shared chunk {chunk}", lambda c=chunk: decoder_with_chunk(batch, None, c), False)
        for chunk in shared_chunks
    ]
    for name, make, sm90 in variants:
        decoder = make()
        if sm90 and not (decoder.sm90_shared and decoder.splits):
            print(f"  {name}: skipped ({decoder.sm90_shared_reason or 'the plan is kept whole'})")
            continue
        calls[name] = [
            lambda d=decoder, k=k, v=v: d.forward(batch.q, k, v, out, sm_scale=batch.sm_scale)
            for k, v in copies
        ]
    calls["flashinfer-decode"] = [run_flashinfer_decode(batch, kv)[1] for kv in copies]
    for config in LOAD_CONFIGS if floor else []:
        calls[f"loads {config}, unique KV"] = [unique_kv_loads(batch, kv, config) for kv in copies]
    return calls


def gemm_calls(rows: int, shapes: list[tuple[int, int]]) -> list:
    """GEMMs of ``(k, n)`` weights at ``rows`` tokens, one call (weights as SGLang's dummy load):
    a Llama-3-8B layer's four (``LAYER_GEMMS``) or its LM head."""
    bf16 = dict(device="cuda", dtype=torch.bfloat16)
    calls = []
    for k, n in shapes:
        weight = torch.empty(n, k, **bf16).uniform_(-1e-3, 1e-3)
        x = torch.randn(rows, k, **bf16)
        y = torch.empty(rows, n, **bf16)
        calls.append((x, weight, y))

    def layer_gemms() -> None:
        for x, weight, y in calls:
            torch.matmul(x, weight.t(), out=y)

    return [layer_gemms]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("shapes", nargs="*", default=["4,128_4096,256", "64,256_2048,256"])
    parser.add_argument("--seconds", type=float, default=5.0, help="a measurement's span")
    parser.add_argument("--rounds", type=int, default=2, help="providers alternated, medians kept")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--shared-chunks", default="", help="also pat with its shared chunks forced, e.g. 1024,2048"
    )
    parser.add_argument("--floor", action="store_true", help="also pure loads of the unique KV")
    parser.add_argument("--commit", default=measured_commit(), help="recorded as measured")
    args = parser.parse_args()
    nvml = Nvml()
    result: dict = dict(
        gpu=torch.cuda.get_device_name(),
        commit=args.commit,
        date=datetime.date.today().isoformat(),
        command=" ".join(["python3", *sys.argv]),
        idle_watts=idle_watts(nvml, 2.0),
    )
    print(f"{result['gpu']}: idle {result['idle_watts']:.1f} W")
    heads = ("µs", "mJ", "mJ>idle", "W", "MHz")
    print(f"{'shape':22s} {'provider':24s} " + " ".join(f"{h:>8s}" for h in heads))
    chunks = [int(c) for c in args.shared_chunks.split(",") if c]
    for shape in args.shapes:
        batch = Batch(workload_for(shape), 32, 8)
        providers = attention_calls(batch, chunks, args.floor)
        providers["llama-8b layer gemms"] = gemm_calls(batch.q.shape[0], LAYER_GEMMS)
        providers["llama-8b lm head"] = gemm_calls(batch.q.shape[0], [(HIDDEN, VOCAB)])
        replays = {name: graph_of(calls) for name, calls in providers.items()}
        runs = measure_rounds(nvml, replays, args.rounds, args.seconds)
        rows = {}
        for name, measured in runs.items():
            row = {key: statistics.median(r[key] or 0 for r in measured) for key in measured[0]}
            row["mj_rounds"] = [r["mj"] for r in measured]
            row["mj_above_idle"] = row["mj"] - result["idle_watts"] * row["us"] / 1000
            rows[name] = row
            print(
                f"{shape:22s} {name:24s} {row['us']:8.1f} {row['mj']:8.2f} "
                f"{row['mj_above_idle']:8.2f} {row['watts']:8.0f} {row['sm_mhz']:8.0f}",
                flush=True,
            )
        result[shape] = rows
    first = result[args.shapes[0]]
    gemm, head = first["llama-8b layer gemms"]["mj"], first["llama-8b lm head"]["mj"]
    pat, fi = first["pat"]["mj"], first["flashinfer-decode"]["mj"]
    pat_step, fi_step = LAYERS * (pat + gemm) + head, LAYERS * (fi + gemm) + head
    model = dict(
        pat_step_j=pat_step / 1000,
        flashinfer_step_j=fi_step / 1000,
        ratio=fi_step / pat_step,
        pat_attention_mj_for_2x=(fi_step / 2 - head) / LAYERS - gemm,
    )
    result["step_model"] = model
    print(
        f"step model ({args.shapes[0]}, attention + GEMMs + LM head): "
        f"pat {model['pat_step_j']:.2f} J, "
        f"flashinfer {model['flashinfer_step_j']:.2f} J, ratio {model['ratio']:.3f}; "
        f"2× needs pat's attention at {model['pat_attention_mj_for_2x']:.2f} mJ a layer "
        f"(now {pat:.2f})"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
