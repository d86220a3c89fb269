"""Compile the paired-tiles kernel for sm90 without a GPU: registers, spills, shared memory, and
ptxas's warning when it serializes the wgmma pipeline (C7514); the product's sm90 shared part
beside it for comparison.

python benchmarks/experiments/paired_tiles/offline.py [STAGES ...]   (default: 3)
"""

import sys
from pathlib import Path

from triton.experimental.gluon._runtime import GluonASTSource

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "latency"))
sys.path.insert(0, str(HERE.parent / "aot_sass"))
sys.path.insert(0, str(HERE))
from kernel import _paired_shared_kernel  # noqa: E402
from offline_compile import compile_for_sm90  # noqa: E402
from sglang_pat.kernels.launch_sm90 import SM90_BLOCK_N, SM90_STAGES  # noqa: E402
from sglang_pat.kernels.shared_part_sm90 import _shared_part_kernel  # noqa: E402
from sm90_against import POINTERS as SM90_POINTERS  # noqa: E402

# the product's pointer types (bf16 K/V) and the paired kernel's pairs
POINTERS = {name: kind.format(t="bf16") for name, kind in SM90_POINTERS.items()}
POINTERS["pairs_ptr"] = "*i32"
KEEP = ("Used", "spill", "C7514")  # registers, spills, a serialized wgmma pipeline


def report(name: str, kernel, stages: int) -> None:
    constexprs = dict(NUM_KV_HEADS=8, GROUP=4, BLOCK_D=128, BLOCK_M=64, BLOCK_N=SM90_BLOCK_N,
                      STAGES=stages, OFFSET_64=False)  # fmt: skip
    pointers = {n: t for n, t in POINTERS.items() if n in kernel.arg_names}
    aligned = {n for n in kernel.arg_names if n in pointers or n.startswith("stride")}
    compiled, ptxas, sass = compile_for_sm90(
        kernel, pointers, constexprs, aligned, dict(num_warps=4), source=GluonASTSource
    )
    print(f"== {name}, {stages} stages: shared {compiled.metadata.shared} B, "
          f"{sass.count('HGMMA')} HGMMA in SASS")  # fmt: skip
    print("\n".join(line for line in ptxas.splitlines() if any(k in line for k in KEEP)))


def main() -> None:
    report("product sm90 shared part", _shared_part_kernel, SM90_STAGES)
    for stages in [int(a) for a in sys.argv[1:]] or [3]:
        report("paired tiles", _paired_shared_kernel, stages)


if __name__ == "__main__":
    main()
