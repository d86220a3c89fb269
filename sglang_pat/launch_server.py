"""``python -m sglang_pat.launch_server [SGLang flags]``: SGLang's server with PAT decode.

Every flag goes to SGLang unchanged; ``--attention-backend pat`` is the default, and with no
``--model-path`` the server runs an embedded dummy Llama-3-8B (a model dir written locally, random
weights through ``--load-format dummy``).

Where pat would also prefill (``--attention-backend pat`` and no prefill backend named),
FlashInfer prefills instead (``--prefill-attention-backend flashinfer``, SGLang's hybrid backend)
if it is installed. pat's own prefill is triton's, which made 100k-token prompts queue (the
faithful Mooncake replays, benchmarks/results/2026-11-30-NVIDIA-H200/session11.md); decode is
pat's either way. ``--prefill-attention-backend triton`` keeps the triton prefill.

The overlay is applied at module top level, because a spawned child re-runs the parent's ``-m``
module, and through the plugin entry point, which SGLang loads in every scheduler process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sglang_pat.model_dirs import make_model_dir
from sglang_pat.patches import apply

apply()

logger = logging.getLogger("sglang_pat.launch_server")
DEFAULT_MODEL_DIR = (
    Path(os.environ.get("SGLANG_PAT_HOME", Path.home() / ".cache" / "sglang-pat"))
    / "llama-3-8b-dummy"
)


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in ``args`` (``--flag v`` or ``--flag=v``; the last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def flashinfer_installed() -> bool:
    return importlib.util.find_spec("flashinfer") is not None


def server_argv(argv: Sequence[str]) -> list[str]:
    """SGLang's argv: the user's flags, plus the pat backend (FlashInfer prefilling where it is
    installed) and a model if none were given."""
    args = list(argv)
    given = {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}
    if not given & {"--attention-backend", "--decode-attention-backend"}:
        args += ["--attention-backend", "pat"]
    pat_would_prefill = flag_value(args, "--attention-backend") == "pat"
    # A prefill backend the user named is kept, pat included.
    if pat_would_prefill and "--prefill-attention-backend" not in given and flashinfer_installed():
        args += ["--prefill-attention-backend", "flashinfer"]
    if not given & {"--model-path", "--model", "--help", "-h"} and "-h" not in args:
        path = make_model_dir(DEFAULT_MODEL_DIR)
        logger.warning(
            "no --model-path: serving the embedded dummy Llama-3-8B at %s (random weights)", path
        )
        args += ["--model-path", str(path)]
        if "--load-format" not in given:
            args += ["--load-format", "dummy"]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    from sglang.launch_server import run_server
    from sglang.srt.plugins import load_plugins
    from sglang.srt.server_args import prepare_server_args
    from sglang.srt.utils import kill_process_tree

    load_plugins()
    server_args = prepare_server_args(server_argv(sys.argv[1:] if argv is None else argv))
    prefill, decode = server_args.get_attention_backends()
    logger.warning("attention backends: decode %s, prefill %s", decode, prefill)
    try:
        run_server(server_args)
    finally:
        kill_process_tree(os.getpid(), include_parent=False)


if __name__ == "__main__":
    main()
