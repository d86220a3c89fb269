"""The sm90 shared part compiled for sm_90a on any machine (Triton's own ptxas and nvdisasm,
no GPU): no asynchronous wgmma has the registers of its A operand written before its wait
(tests/sass_hazards.py). On the GPU such a write gave garbage outputs now and then, which
the GPU tests catch only when the timing goes wrong (session 73)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sass_hazards import a_operand_hazards
from sglang_pat.kernels.launch_sm90 import SM90_BLOCK_N

AOT_SASS = Path(__file__).resolve().parents[1] / "benchmarks" / "experiments" / "aot_sass"
# In a process of its own: under TRITON_INTERPRET=1 (the CPU test command) the Gluon kernel's
# helpers are interpreter functions, which the compiler refuses.
COMPILE = """
import sys
sys.path.insert(0, sys.argv[1])
from sm90_against import compile_product_build
from sglang_pat.kernels.shared_part_sm90 import _shared_part_kernel
_, _, sass = compile_product_build(_shared_part_kernel, sys.argv[2], int(sys.argv[3]),
                                   False, int(sys.argv[4]))
sys.stdout.write(sass)
"""


def product_sass(dtype: str, head_dim: int, group: int) -> str:
    """The launcher's build of the sm90 shared part for sm_90a, as nvdisasm prints it."""
    environment = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    arguments = [str(AOT_SASS), dtype, str(head_dim), str(group)]
    return subprocess.run(
        [sys.executable, "-c", COMPILE, *arguments],
        capture_output=True, text=True, check=True, env=environment,
    ).stdout  # fmt: skip


@pytest.mark.parametrize(("dtype", "head_dim", "group"), [("bf16", 64, 2), ("fp16", 128, 4)])
def test_no_asynchronous_wgmma_has_its_a_registers_written_before_its_wait(
    dtype: str, head_dim: int, group: int
) -> None:
    count, hazards = a_operand_hazards(product_sass(dtype, head_dim, group))
    # P·V: one HGMMA a 16-key step of a block, in the chunk loop (the only P·V: no tails path)
    assert count == SM90_BLOCK_N // 16, count
    assert not hazards, hazards


SASS_WITH_A_LOOP = """
        /*0000*/                   MOV R4, R1 ;
.L_x_1:
        /*0010*/                   {write} ;
        /*0020*/                   WARPGROUP.DEPBAR.LE gsb0, 0x0 ;
        /*0030*/                   WARPGROUP.ARRIVE ;
        /*0040*/                   HGMMA.64x64x16.F32.BF16 R24, R120, gdesc[UR16].tnspB, R24, gsb0 ;
        /*0050*/              @P0 BRA `(.L_x_1) ;
        /*0060*/                   {after} ;
        /*0070*/                   EXIT ;
"""


@pytest.mark.parametrize(
    ("write", "after", "expected"),
    [
        ("FSEL R121, R89, -INF , !P3", "MOV R3, R2", 1),  # before the wait, one iteration on
        ("MOV R3, R2", "FSEL R123, R89, -INF , !P3", 1),  # after the loop, never waited
        ("MOV R3, R2", "IMAD.WIDE R119, R2, 0x4, R4", 1),  # a 64-bit write reaching R120
        ("MOV R3, R2", "STG.E [R120.64], R2", 0),  # a read
        ("MOV R124, R2", "MOV R119, R2", 0),  # other registers
    ],
)
def test_the_scan_follows_loops_and_branches(write: str, after: str, expected: int) -> None:
    count, hazards = a_operand_hazards(SASS_WITH_A_LOOP.format(write=write, after=after))
    assert count == 1
    assert len(hazards) == expected, hazards
