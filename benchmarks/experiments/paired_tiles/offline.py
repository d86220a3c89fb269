"""Compile the paired-tiles kernel for sm90 without a GPU: registers, spills, shared memory, and
ptxas's warning when it serializes the wgmma pipeline (C7514); the product's sm90 shared part
beside it for comparison.

python benchmarks/experiments/paired_tiles/offline.py [STAGES ...]   (default: 3)
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "aot_sass"))
sys.path.insert(0, str(HERE))
from kernel import _paired_shared_kernel  # noqa: E402
from sglang_pat.kernels.launch_sm90 import SM90_BLOCK_N, SM90_STAGES  # noqa: E402
from sglang_pat.kernels.shared_part_sm90 import _shared_part_kernel  # noqa: E402
from sm90_against import compile_product_build, compile_shared_kernel  # noqa: E402

KEEP = ("Used", "spill", "C7514")  # registers, spills, a serialized wgmma pipeline


def show(name: str, stages: int, built: tuple) -> None:
    compiled, ptxas, sass = built
    print(f"== {name}, {stages} stages: shared {compiled.metadata.shared} B, "
          f"{sass.count('HGMMA')} HGMMA in SASS")  # fmt: skip
    print("\n".join(line for line in ptxas.splitlines() if any(k in line for k in KEEP)))


def main() -> None:
    show("product sm90 shared part", SM90_STAGES, compile_product_build(_shared_part_kernel))
    for stages in [int(a) for a in sys.argv[1:]] or [3]:
        constexprs = dict(NUM_KV_HEADS=8, GROUP=4, BLOCK_D=128, BLOCK_M=64, BLOCK_N=SM90_BLOCK_N,
                          STAGES=stages, OFFSET_64=False)  # fmt: skip
        show("paired tiles", stages, compile_shared_kernel(_paired_shared_kernel, constexprs))


if __name__ == "__main__":
    main()
