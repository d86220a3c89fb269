"""Compare the sm90 shared part's SASS with another commit's, on a machine without a GPU.

python benchmarks/experiments/aot_sass/sm90_against.py COMMIT

Compiles ``kernels/shared_part_sm90.py``'s kernel as it is here and as it is at COMMIT, for
sm_90a (bf16 and fp16, head_dim 64 and 128, 32- and 64-bit offsets, GQA 4, 64-key blocks and
the launcher's stages), and compares their instructions with register numbers left out. The
same *sorted* instructions with another order (``reordered``) is ptxas scheduling the same
work; ``other encodings`` names the instructions that differ. Exits 1 where they differ beyond
that or where registers or spills differ.
"""

from __future__ import annotations

import collections
import importlib
import itertools
import re
import sys
from pathlib import Path

from triton.experimental.gluon._runtime import GluonASTSource

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "latency"))
from check import old_package  # noqa: E402
from offline_compile import compile_for_sm90  # noqa: E402
from sglang_pat.kernels.launch_sm90 import (  # noqa: E402
    SM90_BLOCK_N,
    SM90_GATHER_REGS,
    SM90_GATHER_WARPS,
    SM90_MAXNREG,
    SM90_ROWS,
    SM90_STAGES,
)
from sglang_pat.kernels.shared_part_sm90 import _shared_part_kernel  # noqa: E402

POINTERS = {
    "q_ptr": "*{t}", "k_ptr": "*{t}", "v_ptr": "*{t}", "o_ptr": "*{t}",
    "kv_indices_ptr": "*i32", "items_ptr": "*i32", "members_ptr": "*i32", "count_ptr": "*i32",
    "partial_o_ptr": "*fp32", "partial_lse_ptr": "*fp32",
}  # fmt: skip
EXTRA_POINTERS = {"pairs_ptr": "*i32"}  # ../paired_tiles/'s kernel


def compile_shared_kernel(kernel, constexprs: dict, dtype: str = "bf16", **options):
    """``compile_for_sm90`` for a Gluon kernel with the sm90 shared part's pointer arguments
    (``dtype`` K/V and outputs; those of ``kernel.arg_names`` only) on 4 warps unless
    ``options`` say otherwise: (compiled kernel, ptxas's report, SASS)."""
    pointers = {
        n: t.format(t=dtype)
        for n, t in {**POINTERS, **EXTRA_POINTERS}.items()
        if n in kernel.arg_names
    }
    aligned = {n for n in kernel.arg_names if n in pointers or n.startswith("stride")}
    return compile_for_sm90(
        kernel, pointers, constexprs, aligned, {"num_warps": 4, **options}, source=GluonASTSource
    )


def compile_product_build(kernel, dtype: str = "bf16", head_dim: int = 128,
                          offset_64: bool = False, group: int = 4):  # fmt: skip
    """``compile_shared_kernel`` with the launcher's constexprs and options, for the product's
    sm90 shared part here or at another commit (a build before its gather partition takes
    neither GATHER_* nor maxnreg)."""
    constexprs = dict(NUM_KV_HEADS=8, GROUP=group, BLOCK_D=head_dim, BLOCK_M=SM90_ROWS,
                      BLOCK_N=SM90_BLOCK_N, STAGES=SM90_STAGES, OFFSET_64=offset_64)  # fmt: skip
    options = {}
    if "GATHER_WARPS" in kernel.arg_names:
        constexprs.update(GATHER_WARPS=SM90_GATHER_WARPS, GATHER_REGS=SM90_GATHER_REGS)
        options["maxnreg"] = SM90_MAXNREG
    return compile_shared_kernel(kernel, constexprs, dtype, **options)


def instructions(kernel, dtype: str, head_dim: int, offset_64: bool) -> tuple[list[str], list]:
    """The kernel's SASS instructions, registers renamed away, and ptxas's register and spill
    lines."""
    _, report, sass = compile_product_build(kernel, dtype, head_dim, offset_64)
    lines = []
    for line in sass.splitlines():
        line = re.sub(r"/\*[0-9a-f]{4,}\*/", "", line).strip()
        if not line or line.startswith(("//", ".")):
            continue
        line = re.sub(r"\bU?R\d+\b", "R", line).replace(".reuse", "")
        lines.append(re.sub(r"\s+", " ", re.sub(r"\bU?P\d\b", "P", line)))
    return lines, re.findall(r"Used \d+ registers|\d+ bytes spill stores", report)


def main() -> None:
    name, _ = old_package(sys.argv[1])
    old_kernel = importlib.import_module(f"{name}.shared_part_sm90")._shared_part_kernel
    failed = False
    for dtype, head_dim, offset_64 in itertools.product(("bf16", "fp16"), (64, 128), (0, 1)):
        new, new_use = instructions(_shared_part_kernel, dtype, head_dim, bool(offset_64))
        old, old_use = instructions(old_kernel, dtype, head_dim, bool(offset_64))
        if new == old:
            verdict = "same SASS"
        elif sorted(new) == sorted(old):
            verdict = "reordered"
        else:
            only_old = collections.Counter(old) - collections.Counter(new)
            only_new = collections.Counter(new) - collections.Counter(old)
            verdict = f"other encodings: {dict(only_old)} → {dict(only_new)}"
            failed |= len(new) != len(old)
        failed |= new_use != old_use
        print(f"{dtype} d={head_dim} offset_64={offset_64}: {len(new)} instructions, "
              f"{', '.join(new_use)}: {verdict}")  # fmt: skip
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
