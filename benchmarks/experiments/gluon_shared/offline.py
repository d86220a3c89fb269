"""Compile the Gluon shared-pack kernel for sm90 without a GPU: registers, spills, shared
memory, and ptxas's warning when it serializes the wgmma pipeline (C7514).

python benchmarks/experiments/gluon_shared/offline.py [STAGES] [BLOCK_N] [BLOCK_M] [s] [p]
  (s: the probe without the softmax; p: the persistent build, a fixed grid over the units)
"""

import sys
from pathlib import Path

from kernel import _shared_pack_kernel
from triton.experimental.gluon._runtime import GluonASTSource

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "latency"))
from offline_compile import compile_for_sm90  # noqa: E402


def main() -> None:
    stages = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    block_n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    block_m = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    kernel = _shared_pack_kernel
    pointers = {"q_ptr": "*bf16", "k_ptr": "*bf16", "v_ptr": "*bf16", "o_ptr": "*bf16",
                "kv_indices_ptr": "*i32", "items_ptr": "*i32", "members_ptr": "*i32",
                "count_ptr": "*i32", "partial_o_ptr": "*fp32",
                "partial_lse_ptr": "*fp32"}  # fmt: skip
    constexprs = dict(NUM_KV_HEADS=8, GROUP=4, BLOCK_D=128, BLOCK_M=block_m, BLOCK_N=block_n,
                      STAGES=stages, WARPS=block_m // 16, SOFTMAX="s" not in sys.argv,
                      PERSISTENT="p" in sys.argv)  # fmt: skip
    aligned = {n for n in kernel.arg_names if n in pointers or n.startswith("stride")}
    options = dict(num_warps=block_m // 16)
    compiled, report, _ = compile_for_sm90(
        kernel, pointers, constexprs, aligned, options, source=GluonASTSource
    )
    print(f"shared {compiled.metadata.shared} B")
    # "Used" / "spill": registers and spills; C7514: ptxas serialized the wgmma pipeline
    keep = ("Used", "spill", "C7514")
    print("\n".join(line for line in report.splitlines() if any(k in line for k in keep)))
    if "--ttgir" in sys.argv:
        print(compiled.asm["ttgir"])


if __name__ == "__main__":
    main()
