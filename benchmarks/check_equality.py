"""Outputs of ``--attention-backend pat`` against triton on a real SGLang server (GPU).

For each variant (server flags) and backend: start ``python -m sglang.launch_server`` on a dummy
model dir, send 32 prompts in 4 shared-prefix groups with nested sub-prefixes (greedy, 64
tokens, logprobs), stop the server. Pass: every prompt's tokens are equal and per-token
logprobs differ by at most 0.02. Writes equality.json and the server logs to --out.

    python benchmarks/check_equality.py --out DIR [--variant default] [--variant eager] ...
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests

from sglang_pat.model_dirs import make_model_dir

VARIANTS = {
    "default": [],
    "eager": ["--disable-cuda-graph"],
    "no-overlap": ["--disable-overlap-schedule"],
    "page64": ["--page-size", "64"],
}
SERVER_FLAGS = [
    "--load-format",
    "dummy",
    "--sampling-backend",
    "pytorch",
    "--grammar-backend",
    "none",
    "--mem-fraction-static",
    "0.8",
    "--cuda-graph-max-bs",
    "64",
    "--max-running-requests",
    "64",
]


def prompts(seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    ids = lambda n: rng.integers(1000, 120000, n).tolist()  # noqa: E731
    system = ids(600)
    out = []
    for _ in range(4):
        group = system + ids(200)
        sub = group + ids(100)
        out += [(sub if i % 2 else group) + ids(int(rng.integers(20, 40))) for i in range(8)]
    return out


def run_server(backend: str, flags: list[str], model: Path, port: int, log: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "sglang.launch_server",
        "--model-path",
        str(model),
        "--attention-backend",
        backend,
        "--port",
        str(port),
        *SERVER_FLAGS,
        *flags,
    ]
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.time() + 420
            while time.time() < deadline:
                if server.poll() is not None:
                    raise RuntimeError(f"{backend} server exited, see {log}")
                try:
                    if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                time.sleep(2)
            else:
                raise RuntimeError(f"{backend} server not healthy in time, see {log}")
            start = time.time()
            reply = requests.post(
                f"http://127.0.0.1:{port}/generate",
                timeout=600,
                json=dict(
                    input_ids=prompts(),
                    sampling_params=dict(temperature=0, max_new_tokens=64, ignore_eos=True),
                    return_logprob=True,
                ),
            ).json()
            print(f"  {backend}: {len(reply)} replies in {time.time() - start:.1f} s", flush=True)
            return dict(
                tokens=[[t[1] for t in r["meta_info"]["output_token_logprobs"]] for r in reply],
                logprobs=[[t[0] for t in r["meta_info"]["output_token_logprobs"]] for r in reply],
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


def compare(reference: dict, candidate: dict) -> dict:
    same = [a == b for a, b in zip(reference["tokens"], candidate["tokens"])]
    diffs = [
        max(abs(x - y) for x, y in zip(a, b))
        for a, b in zip(reference["logprobs"], candidate["logprobs"])
    ]
    return dict(
        prompts=len(same),
        identical_tokens=int(sum(same)),
        max_logprob_diff=max(diffs) if diffs else None,
        passed=all(same) and bool(diffs) and max(diffs) <= 0.02,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    parser.add_argument("--port", type=int, default=30123)
    parser.add_argument(
        "--negative-control",
        type=float,
        default=None,
        metavar="SCALE",
        help="also run pat with its softmax scale times SCALE: must fail",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = make_model_dir(out.parent / "llama-3-8b-dummy")
    results = {}
    for variant in args.variant or ["default"]:
        print(f"variant {variant}: {VARIANTS[variant]}", flush=True)
        runs = {
            b: run_server(b, VARIANTS[variant], model, args.port, out / f"{variant}-{b}.log")
            for b in ("triton", "pat")
        }
        same = [a == b for a, b in zip(runs["triton"]["tokens"], runs["pat"]["tokens"])]
        diffs = [
            max(abs(x - y) for x, y in zip(a, b))
            for a, b, s in zip(runs["triton"]["logprobs"], runs["pat"]["logprobs"], same)
            if s
        ]
        results[variant] = dict(
            prompts=len(same),
            identical_tokens=int(sum(same)),
            max_logprob_diff=max(diffs) if diffs else None,
            passed=all(same) and bool(diffs) and max(diffs) <= 0.02,
            pat_log_says=[
                line.strip() for line in open(out / f"{variant}-pat.log") if "pat:" in line
            ][:3],
        )
        print(json.dumps(results[variant], indent=2), flush=True)
    (out / "equality.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
