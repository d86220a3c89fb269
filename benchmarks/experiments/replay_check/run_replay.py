"""A workload (the Mooncake conversation replay unless ``--workload`` names another) through
``bench_serving.run_workload`` (warm pass, then ``--passes`` measured passes) against a server
already listening on ``--port``.

    python run_replay.py --out DIR --backend pat --port 31999 --log LOG --mooncake-dir /tmp/mc
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import bench_serving  # noqa: E402

from sglang_pat.model_dirs import make_model_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backend", default="pat", choices=sorted(bench_serving.BACKENDS))
    parser.add_argument("--port", type=int, default=31999)
    parser.add_argument("--log", type=Path, required=True, help="the server's log file")
    parser.add_argument("--workload", default="mooncake-conversation")
    parser.add_argument("--mooncake-dir", default="", help="the traces, for a Mooncake replay")
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    args.commit = bench_serving.measured_commit()
    args.out.mkdir(parents=True, exist_ok=True)
    model = make_model_dir(args.out / "llama-3-8b-dummy")
    args.log.touch()
    spec = bench_serving.server_spec(args.backend, model, args.port, args.log, [])
    bench_serving.run_workload(args.workload, spec, args.out, args, warm=True)
    row = bench_serving.run_workload(args.workload, spec, args.out, args)
    print(json.dumps({k: v for k, v in row.items() if k != "command"}, indent=1))


if __name__ == "__main__":
    main()
