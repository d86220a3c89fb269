"""Compile the producer-warp shared part for sm90 without a GPU: registers (the kernel's, which
the launch reserves for every warp), spills, shared memory, how its mbarrier arrives lower, and
whether ptxas serializes the wgmma pipeline (C7514 / C7515).

python benchmarks/experiments/producer_warp/offline.py [MAXNREG ...]   (default: 128 168)
python benchmarks/experiments/producer_warp/offline.py --pairs [MAXNREG ...]   (default: 168)

``--pairs``: the two-consumer build (a pair of items on two math warpgroups, 12 warps).
"""

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "aot_sass"))
sys.path.insert(0, str(HERE))
from producer_kernel import _producer_warp_kernel  # noqa: E402
from producer_launch import PRODUCER_REGS, pair_consumer_regs  # noqa: E402
from sm90_against import compile_shared_kernel  # noqa: E402

KEEP = ("Used", "spill", "C7514", "C7515", "error")
PTX_PATTERNS = (
    r"setmaxnreg\.\w+\.sync\.aligned\.u32\s+\d+",  # the partitions' register split
    r"cp\.async\.mbarrier\.arrive[.\w]*",  # the producer's (every thread: noinc)
    r"mbarrier\.arrive[.\w]*",
    r"mbarrier\.try_wait[.\w]*",
)


def report(maxnreg: int, stages: int, producer_warps: int, producer_regs: int,
           consumers: int, consumer_regs: int) -> None:  # fmt: skip
    constexprs = dict(NUM_KV_HEADS=8, GROUP=4, BLOCK_D=128, BLOCK_M=64, BLOCK_N=64,
                      STAGES=stages, OFFSET_64=False, PRODUCER_WARPS=producer_warps,
                      PRODUCER_REGS=producer_regs, CONSUMERS=consumers,
                      CONSUMER_REGS=consumer_regs)  # fmt: skip
    compiled, ptxas, sass = compile_shared_kernel(
        _producer_warp_kernel, constexprs, maxnreg=maxnreg
    )
    ptx = compiled.asm["ptx"]
    print(f"== {consumers} consumer(s), maxnreg {maxnreg}, {stages} stages, producer "
          f"{producer_warps} warps × "
          f"{producer_regs} registers: shared {compiled.metadata.shared} B, "
          f"{compiled.metadata.num_warps} warps, {sass.count('HGMMA')} HGMMA")  # fmt: skip
    print("\n".join(line for line in ptxas.splitlines() if any(k in line for k in KEEP)))
    for pattern in PTX_PATTERNS:
        found = sorted(set(re.findall(pattern, ptx)))
        print(f"  {pattern}: {found}")


def main() -> None:
    pairs = "--pairs" in sys.argv
    maxnregs = [int(a) for a in sys.argv[1:] if a != "--pairs"]
    for maxnreg in maxnregs or ([168] if pairs else [128, 168]):
        if pairs:
            report(maxnreg, 4, 4, PRODUCER_REGS, 2, pair_consumer_regs(maxnreg))
        else:
            report(maxnreg, 4, 4, 40, 1, 0)


if __name__ == "__main__":
    main()
