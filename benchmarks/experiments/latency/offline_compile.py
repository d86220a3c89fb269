"""Compile the pack kernel for sm90 without a GPU: registers, spills, shared memory, SASS size.

python benchmarks/experiments/latency/offline_compile.py [MODULE]   (default: kernels/)

MODULE names a module beside this file holding a ``_pack_decode_kernel`` (as variant.py).
Uses the default menu for d=128, bf16, GQA 4, page 1, no logit cap: the benchmarks' shapes.
"""

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from sglang_pat.cost_model import default_tile_menu

HERE = Path(__file__).resolve().parent
BIN = Path(triton.__file__).parent / "backends/nvidia/bin"
PTXAS, NVDISASM = str(BIN / "ptxas"), str(BIN / "nvdisasm")

POINTERS = {
    "q_ptr": "*bf16",
    "k_ptr": "*bf16",
    "v_ptr": "*bf16",
    "o_ptr": "*bf16",
    "kv_indices_ptr": "*i32",
    "items_ptr": "*i32",
    "members_ptr": "*i32",
    "header_ptr": "*i32",
    "queue_ptr": "*i32",
    "partial_o_ptr": "*fp32",
    "partial_lse_ptr": "*fp32",
    "times_ptr": "*i64",  # timeline experiment only
}


def compile_for_sm90(
    kernel, pointers: dict, constexprs: dict, aligned: set, options: dict, source=ASTSource
) -> tuple[object, str, str]:
    """Compile ``kernel`` for sm90: (compiled kernel, ptxas's ``-v`` report, SASS).

    ``pointers`` maps pointer arguments to their types; ``sm_scale`` and ``logit_cap`` are
    fp32, other arguments i32; ``aligned`` names the arguments specialised as multiples of 16.
    ``source`` is ``ASTSource``, or Gluon's for a Gluon kernel.
    """
    signature = {}
    for name in kernel.arg_names:
        if name in pointers:
            signature[name] = pointers[name]
        elif name in constexprs:
            signature[name] = "constexpr"
        elif name in ("sm_scale", "logit_cap"):
            signature[name] = "fp32"
        else:
            signature[name] = "i32"
    src = source(
        kernel,
        signature,
        {(kernel.arg_names.index(k),): v for k, v in constexprs.items()},
        {(i,): [["tt.divisibility", 16]] for i, n in enumerate(kernel.arg_names) if n in aligned},
    )
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=options)
    # registers and spills as ptxas reports them (CompiledKernel knows them only once loaded)
    with tempfile.TemporaryDirectory() as tmp:
        ptx = Path(tmp) / "k.ptx"
        ptx.write_text(compiled.asm["ptx"])
        report = subprocess.run(
            [PTXAS, "-v", "--gpu-name=sm_90a", str(ptx), "-o", str(Path(tmp) / "k.cubin")],
            capture_output=True,
            text=True,
        ).stderr
        sass = subprocess.run(
            [NVDISASM, str(Path(tmp) / "k.cubin")], capture_output=True, text=True
        ).stdout
    return compiled, report, sass


def main() -> None:
    if len(sys.argv) > 1:
        sys.path.insert(0, str(HERE))
        kernel = importlib.import_module(sys.argv[1])._pack_decode_kernel
    else:
        from sglang_pat.kernels.pack_decode import _pack_decode_kernel as kernel
    menu = default_tile_menu(128)
    constexprs = dict(
        NUM_KV_HEADS=8,
        GROUP=4,
        HEAD_DIM=128,
        BLOCK_D=128,
        V_DIM=128,
        BLOCK_DV=128,
        PAGE_SIZE=1,
        HAS_LOGIT_CAP=False,
        SAME_KV_LAYOUT=True,
        OFFSET_64=False,
        NUM_TILES=len(menu.tiles),
        **menu.kernel_tiles,
    )
    # the launcher's specialisation on the benchmarks' buffers: pointers and the strides of
    # q, K/V, o and the partials are multiples of 16 elements
    aligned = {
        name
        for name in kernel.arg_names
        if name in POINTERS
        or (name.startswith("stride_") and name != "stride_k_page" and name != "stride_v_page")
    }
    options = dict(num_warps=menu.num_warps, num_stages=menu.num_stages)
    compiled, report, sass = compile_for_sm90(kernel, POINTERS, constexprs, aligned, options)
    usage = [line.split("ptxas info    : ")[-1] for line in report.splitlines() if "Used" in line]
    spills = [line.split("ptxas info    : ")[-1] for line in report.splitlines() if "spill" in line]
    print(
        f"{kernel.fn.__module__}: shared {compiled.metadata.shared} B; {'; '.join(usage + spills)}"
    )
    instructions = sum(1 for line in sass.splitlines() if "/*" in line and ";" in line)
    print(f"  SASS instructions: {instructions}")


if __name__ == "__main__":
    main()
