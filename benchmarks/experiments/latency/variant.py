"""Run micro.py or sweep.py on another pack kernel.

python benchmarks/experiments/latency/variant.py VARIANT micro|sweep ARGS...

VARIANT names a module beside this file holding a ``_pack_decode_kernel`` with the launcher's
signature (e.g. an older kernels/pack_decode.py with the parameters it lacks added), or
``stock`` for the kernel in kernels/. Both runs in one call compare the kernels side by side.
"""

import importlib
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    variant, tool, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if tool not in ("micro", "sweep"):
        raise SystemExit(f"tool must be micro or sweep, got {tool!r}")
    import sglang_pat.kernels.launch as launch
    import sglang_pat.kernels.pack_decode as pack_decode

    if variant != "stock":
        sys.path.insert(0, str(HERE))
        kernel = importlib.import_module(variant)._pack_decode_kernel
        # sweep.use() re-reads pack_decode's kernel; the launcher calls launch's
        pack_decode._pack_decode_kernel = launch._pack_decode_kernel = kernel
    print("variant", variant, pack_decode._pack_decode_kernel.fn.__module__, flush=True)
    sys.argv = [str(HERE / f"{tool}.py"), *args]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
