"""Outputs of ``--attention-backend pat`` against triton on real SGLang servers (GPU).

For each variant (server flags) a triton and a pat server run on the same dummy Llama-3-8B
model dir; each gets 32 prompts in 4 shared-prefix groups with nested sub-prefixes (greedy,
64 new tokens, logprobs with the top 5 alternatives). Several servers share the GPU at once,
each with a fixed KV pool.

Weights (``--weights``):
- ``sglang``: SGLang's ``--load-format dummy`` (uniform ±1e-3). Every attention output then
  vanishes under bf16 rounding of the residual stream: the check passes even for a wrong kernel.
- ``hf`` (default): the same dummy load, re-initialised as Hugging Face initialises an untrained
  Llama (normal 0.02, norms 1; ``check_hooks/sitecustomize.py``). Attention decides the output.

Verdicts per (variant, pair):
- ``exact``: the issue's criterion: all 64 tokens equal, per-token logprobs within 0.02.
- ``tolerant``: logprobs within 0.02 up to the first differing token, and that difference is
  a near tie: the reference rates the candidate's token within 0.02 of its own choice.
  A random untrained model has near ties that bf16 rounding alone can flip.
- ``attention``: every pat server runs with ``SGLANG_PAT_VERIFY=1``: each decode layer of each
  served step also runs triton's decode on the same inputs, and the largest gap is logged.
  Pass: max |pat - triton| / (1 + |triton|) <= 0.04, the kernel tests' bf16 tolerance.
``--plain-pat`` adds, per variant, a pat server without verification (``-pat-plain``), compared
by tokens with the verified pat server: its replayed graphs skip triton's decode metadata,
which verification keeps. Verification leaves pat's outputs as they are, so where both servers
batch the prompts alike, their tokens must be identical (batched otherwise, the plans and so
the roundings differ, and this model's tokens diverge).
``--sglang-store`` (with ``--plain-pat``) adds a pat server whose new K/V SGLang's store
writes (``SGLANG_PAT_STORE_IN_KERNEL=0``), compared by tokens with the plain pat server, whose
kernels write them: the stored bits and the plans are the same, so the tokens must be
identical. Verification cannot see a wrong store: triton then reads the same wrong cache.
``--negative-control S`` adds a pat server whose softmax scale is off by the factor S; it must
fail, which shows the check can see a wrong kernel. ``--compare pat,flashinfer`` also compares
flashinfer with triton: the noise floor of the token verdicts.

    python benchmarks/check_equality.py --out DIR [--variant default ...] [--weights hf]
        [--negative-control 1.05] [--plain-pat [--sglang-store]] [--parallel 4] [--tp 1]
        [--compare pat,flashinfer]
"""

from __future__ import annotations

import argparse
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from servers import ServerSpec, running

from sglang_pat.model_dirs import make_model_dir

VARIANTS = {
    "default": [],
    "eager": ["--disable-cuda-graph"],
    "no-overlap": ["--disable-overlap-schedule"],
    "page64": ["--page-size", "64"],
    # SGLang's hybrid backend: FlashInfer prefills for both servers, so only decode differs.
    "fi-prefill": ["--prefill-attention-backend", "flashinfer"],
}
# Small fixed KV pools so that several servers fit on one GPU side by side.
SERVER_FLAGS = [
    *("--load-format", "dummy"),
    *("--mem-fraction-static", "0.9"),
    *("--max-total-tokens", "16384"),
    *("--cuda-graph-max-bs", "64"),
    *("--max-running-requests", "64"),
]
TOLERANCE = 0.02
NEW_TOKENS = 64
HOOKS = Path(__file__).resolve().parent / "check_hooks"


def prompts(seed: int = 0) -> list[list[int]]:
    """32 prompts: one system prefix, 4 groups below it, a sub-prefix in each group."""
    rng = np.random.default_rng(seed)
    ids = lambda n: rng.integers(1000, 120000, n).tolist()  # noqa: E731
    system = ids(600)
    out = []
    for _ in range(4):
        group = system + ids(200)
        sub = group + ids(100)
        out += [(sub if i % 2 else group) + ids(int(rng.integers(20, 40))) for i in range(8)]
    return out


def generate(url: str) -> list[dict]:
    reply = requests.post(
        url + "/generate",
        timeout=600,
        json=dict(
            input_ids=prompts(),
            sampling_params=dict(temperature=0, max_new_tokens=NEW_TOKENS, ignore_eos=True),
            return_logprob=True,
            top_logprobs_num=5,
        ),
    ).json()
    # One more short decode, so that the verification log line after it covers the last step
    # of the batch above (pat logs the gap of the steps before each planned step).
    requests.post(
        url + "/generate",
        timeout=120,
        json=dict(input_ids=[[1000, 1001, 1002]], sampling_params=dict(max_new_tokens=3)),
    ).raise_for_status()
    return [
        dict(
            tokens=[t[1] for t in r["meta_info"]["output_token_logprobs"]],
            logprobs=[t[0] for t in r["meta_info"]["output_token_logprobs"]],
            top=[{t[1]: t[0] for t in top or []} for top in r["meta_info"]["output_top_logprobs"]],
        )
        for r in reply
    ]


def compare_one(ref: dict, cand: dict) -> dict:
    """Where ``cand`` first leaves ``ref``, and the logprob gap up to there."""
    n = len(ref["tokens"])
    first = next((i for i in range(n) if ref["tokens"][i] != cand["tokens"][i]), n)
    diffs = [abs(a - b) for a, b in zip(ref["logprobs"][:first], cand["logprobs"][:first])]
    near_tie = None
    if first < n:
        rated = ref["top"][first].get(cand["tokens"][first])
        near_tie = rated is not None and ref["logprobs"][first] - rated <= TOLERANCE
    return dict(first_difference=first, max_logprob_diff=max(diffs, default=0.0), near_tie=near_tie)


def compare(ref: list[dict], cand: list[dict]) -> dict:
    per_prompt = [compare_one(r, c) for r, c in zip(ref, cand)]
    within = all(p["max_logprob_diff"] <= TOLERANCE for p in per_prompt)
    identical = sum(p["first_difference"] == NEW_TOKENS for p in per_prompt)
    diverged = [
        (i, p["first_difference"]) for i, p in enumerate(per_prompt) if p["near_tie"] is not None
    ]
    return dict(
        prompts=len(per_prompt),
        identical_sequences=identical,
        max_logprob_diff_before_divergence=max(p["max_logprob_diff"] for p in per_prompt),
        divergences=diverged,
        divergences_not_near_tie=sum(p["near_tie"] is False for p in per_prompt),
        exact=bool(within and identical == len(per_prompt)),
        tolerant=bool(within and all(p["near_tie"] is not False for p in per_prompt)),
    )


VERIFY_LINE = re.compile(
    r"pat verify: (\d+) decode steps, max \|pat - triton\| (\S+), max \|triton\| (\S+), "
    r"max \|pat - triton\| / \(1 \+ \|triton\|\) (\S+)"
)
ATTENTION_TOLERANCE = 0.04  # the bf16 tolerance of the kernel tests: |d| <= 0.04 (1 + |ref|)


def verified_attention(log: Path) -> dict | None:
    """The last verification line of a pat server: PAT against triton on the same inputs,
    every decode layer of every served step (``SGLANG_PAT_VERIFY=1``)."""
    found = VERIFY_LINE.findall(log.read_text(errors="replace"))
    if not found:
        return None
    # Figures are cumulative per process; under --tp every rank logs its own.
    steps, gap, scale, relative = (max(float(line[i]) for line in found) for i in range(4))
    return dict(
        decode_steps=int(steps),
        max_abs_gap=gap,
        max_abs_triton=scale,
        max_gap_over_1_plus_abs_triton=relative,
        passed=relative <= ATTENTION_TOLERANCE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    parser.add_argument("--weights", choices=("hf", "sglang"), default="hf")
    parser.add_argument("--negative-control", type=float, metavar="SCALE")
    parser.add_argument("--plain-pat", action="store_true", help="also pat without verification")
    parser.add_argument(
        "--sglang-store", action="store_true", help="also plain pat with SGLang's K/V store"
    )
    parser.add_argument("--parallel", type=int, default=4, help="servers sharing the GPU at once")
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument(
        "--compare", default="pat", help="backends compared with triton (flashinfer: noise floor)"
    )
    parser.add_argument("--port", type=int, default=30100)
    args = parser.parse_args()
    if args.plain_pat and "pat" not in args.compare.split(","):
        parser.error("--plain-pat compares with the verified pat server: keep pat in --compare")
    if args.sglang_store and not args.plain_pat:
        parser.error("--sglang-store compares with the plain pat server: add --plain-pat")
    out = Path(args.out)
    model = make_model_dir(out / "llama-3-8b-dummy")
    env = {"PYTHONPATH": os.pathsep.join([str(HOOKS), os.environ.get("PYTHONPATH", "")])}
    if args.weights == "hf":
        env["PAT_CHECK_INIT"] = "hf"
    flags = [*SERVER_FLAGS, "--tp", str(args.tp)]
    specs, reference_of = [], {}
    for variant in args.variant or ["default"]:
        for backend in ("triton", *args.compare.split(",")):
            name = f"{variant}-{backend}"
            log = out / f"{name}.log"
            server_env = {**env, "SGLANG_PAT_VERIFY": "1"} if backend == "pat" else env
            specs.append(
                ServerSpec(name, model, backend, 0, log, [*flags, *VARIANTS[variant]], server_env)
            )
            reference_of[name] = f"{variant}-triton"
        if args.plain_pat:
            name = f"{variant}-pat-plain"
            log = out / f"{name}.log"
            specs.append(ServerSpec(name, model, "pat", 0, log, [*flags, *VARIANTS[variant]], env))
            reference_of[name] = f"{variant}-pat"
        if args.sglang_store:
            name = f"{variant}-pat-sglang-store"
            log = out / f"{name}.log"
            store_env = {**env, "SGLANG_PAT_STORE_IN_KERNEL": "0"}
            flags_of = [*flags, *VARIANTS[variant]]
            specs.append(ServerSpec(name, model, "pat", 0, log, flags_of, store_env))
            reference_of[name] = f"{variant}-pat-plain"
    if args.negative_control:
        name = f"default-pat-scale{args.negative_control:g}"
        neg_env = {
            **env,
            "PAT_CHECK_SM_SCALE": str(args.negative_control),
            "SGLANG_PAT_VERIFY": "1",
        }
        specs.append(ServerSpec(name, model, "pat", 0, out / f"{name}.log", flags, neg_env))
        reference_of[name] = "default-triton"
    for i, spec in enumerate(specs):
        spec.port = args.port + 10 * i

    outputs: dict[str, list[dict]] = {}
    for start in range(0, len(specs), args.parallel):
        wave = specs[start : start + args.parallel]
        print(f"wave: {[s.name for s in wave]}", flush=True)
        with running(wave), ThreadPoolExecutor(len(wave)) as pool:
            for spec, result in zip(wave, pool.map(lambda s: generate(s.url), wave)):
                outputs[spec.name] = result
    results = {}
    for name, reference in reference_of.items():
        if name != reference:
            key = f"{name} vs {reference}"
            results[key] = compare(outputs[reference], outputs[name])
            results[key]["attention"] = verified_attention(out / f"{name}.log")
            print(key, json.dumps(results[key]), flush=True)
    for spec in specs:
        if spec.backend == "pat":
            said = [
                line.strip() for line in open(spec.log) if "pat:" in line or "check_hooks" in line
            ]
            results.setdefault("_pat_log", {})[spec.name] = said[:6]
    results["_run"] = dict(weights=args.weights, tp=args.tp, flags=flags, variants=VARIANTS)
    (out / "equality.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "outputs.json").write_text(json.dumps(outputs) + "\n")


if __name__ == "__main__":
    main()
