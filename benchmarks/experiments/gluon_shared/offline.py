"""Compile the Gluon shared-pack kernel for sm90 without a GPU: registers, spills, shared
memory, and ptxas's warning when it serializes the wgmma pipeline (C7514).

python benchmarks/experiments/gluon_shared/offline.py [STAGES] [BLOCK_N] [BLOCK_M]
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import triton
from kernel import _shared_pack_kernel
from triton.backends.compiler import GPUTarget
from triton.experimental.gluon._runtime import GluonASTSource

BIN = Path(triton.__file__).parent / "backends/nvidia/bin"


def main() -> None:
    stages = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    block_n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    block_m = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    kernel = _shared_pack_kernel
    pointers = {"q_ptr": "*bf16", "k_ptr": "*bf16", "v_ptr": "*bf16", "o_ptr": "*bf16",
                "kv_indices_ptr": "*i32", "items_ptr": "*i32", "members_ptr": "*i32",
                "partial_o_ptr": "*fp32", "partial_lse_ptr": "*fp32"}  # fmt: skip
    constexprs = dict(NUM_KV_HEADS=8, GROUP=4, BLOCK_D=128, BLOCK_M=block_m, BLOCK_N=block_n,
                      STAGES=stages, WARPS=block_m // 16)  # fmt: skip
    signature = {}
    for name in kernel.arg_names:
        if name in pointers:
            signature[name] = pointers[name]
        elif name in constexprs:
            signature[name] = "constexpr"
        elif name == "sm_scale":
            signature[name] = "fp32"
        else:
            signature[name] = "i32"
    aligned = [i for i, n in enumerate(kernel.arg_names) if n in pointers or n.startswith("stride")]
    src = GluonASTSource(
        kernel,
        signature,
        {(kernel.arg_names.index(k),): v for k, v in constexprs.items()},
        {(i,): [["tt.divisibility", 16]] for i in aligned},
    )
    compiled = triton.compile(
        src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=block_m // 16)
    )
    with tempfile.TemporaryDirectory() as tmp:
        ptx = Path(tmp) / "k.ptx"
        ptx.write_text(compiled.asm["ptx"])
        report = subprocess.run(
            [str(BIN / "ptxas"), "-v", "--gpu-name=sm_90a", str(ptx), "-o", f"{tmp}/k.cubin"],
            capture_output=True,
            text=True,
        ).stderr
    print(f"shared {compiled.metadata.shared} B")
    # "Used" / "spill": registers and spills; C7514: ptxas serialized the wgmma pipeline
    keep = ("Used", "spill", "C7514")
    print("\n".join(line for line in report.splitlines() if any(k in line for k in keep)))
    if "--ttgir" in sys.argv:
        print(compiled.asm["ttgir"])


if __name__ == "__main__":
    main()
