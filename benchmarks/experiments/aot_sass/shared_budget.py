"""Could two shared-part programs share an SM with the private part? Compile-time evidence.

    python benchmarks/experiments/aot_sass/shared_budget.py [--groups 4,8]

In lean mode the shared part runs one program per SM, and where it has more units than SMs it
runs them 1.44x slower than two programs per SM would (``../kept_whole/README.md``, "What
bounds a split plan"). A second shared program does not fit at the default build (255
registers at 4 warps, 112 KB). This compiles the shared-part build for sm_90 with its tiles'
K/V pipelines capped at fewer stages and a register cap, and prints its resources and which
SM mixes fit: 2 shared + 2 private, 2 shared + 1 private (bf16, head_dim 128, page 1, no
logit cap).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import SM_REGISTERS, SM_SHARED_BYTES, compile_kernel, resources  # noqa: E402
from sglang_pat.kernels.pack_decode import PRIVATE_PART, SHARED_PART, _pack_decode_kernel  # noqa: E402

from sglang_pat.cost_model import default_tile_menu, private_part_tiles  # noqa: E402

BUILDS = [(3, None), (2, None), (2, 192), (2, 168), (1, 168), (2, 128)]  # (stages, maxnreg)


def fits(shared: dict, shared_count: int, private: dict, private_count: int, warps: tuple) -> bool:
    smem = (shared["shared"] + 1024) * shared_count + (private["shared"] + 1024) * private_count
    regs = 32 * (  # registers are allocated per warp in units of 256 (8 a thread)
        -(-shared["regs"] // 8) * 8 * warps[0] * shared_count
        + -(-private["regs"] // 8) * 8 * warps[1] * private_count
    )
    return smem <= SM_SHARED_BYTES and regs <= SM_REGISTERS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="4,8")
    args = parser.parse_args()
    for group in (int(g) for g in args.groups.split(",")):
        menu = default_tile_menu(128, group, lean=True)
        lean = menu.lean
        assert lean is not None
        common = dict(
            NUM_KV_HEADS=8, GROUP=group, HEAD_DIM=128, BLOCK_D=128, V_DIM=128, BLOCK_DV=128,
            PAGE_SIZE=1, HAS_LOGIT_CAP=False, SAME_KV_LAYOUT=True, OFFSET_64=False,
        )  # fmt: skip
        private = dict(
            common, NUM_TILES=1, **private_part_tiles(menu, group), PART=PRIVATE_PART.value
        )
        small = resources(
            compile_kernel(
                _pack_decode_kernel, private, "bf16", num_warps=lean.num_warps,
                num_stages=lean.num_stages, maxnreg=lean.max_registers,
            )
        )  # fmt: skip
        print(f"G={group}: private part {small}", flush=True)
        warps = (menu.num_warps, lean.num_warps)
        for stages, maxnreg in BUILDS:
            # each tile's K/V pipeline depth (S0..S3, ST), capped at ``stages``
            tiles = {k: min(v, stages) if k[0] == "S" else v for k, v in menu.kernel_tiles.items()}
            shared_part = dict(common, NUM_TILES=len(menu.tiles), **tiles, PART=SHARED_PART.value)
            options = dict(num_warps=menu.num_warps, num_stages=menu.num_stages)
            if maxnreg:
                options["maxnreg"] = maxnreg
            big = resources(compile_kernel(_pack_decode_kernel, shared_part, "bf16", **options))
            mixes = {f"2+{n}": fits(big, 2, small, n, warps) for n in (2, 1)}
            print(f"G={group}: shared part, {stages} stages, maxnreg {maxnreg}: {big} {mixes}")


if __name__ == "__main__":
    main()
