"""Experiment: 128-row shared tiles, so the lean pair reads each shared K/V block once a prefix.

python benchmarks/experiments/shared_rows/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

``../contention/`` (session 63) found the pair's parts not bound by memory latency: the private
part alone takes about as long with its K/V in the L2 as in HBM, on 4 warps or 1, two or three
programs an SM. Both parts are bound by the bytes the SMs load, L2 hits included. On gsp
4 × 32's batch the shared part reads each prefix's K/V twice, once for each 64-row tile (16 of
a group's 32 requests × G = 4), 128 of the pair's 268 MB a layer. A 128-row tile reads them
once. It needs 8 warps (two warpgroups of 64 rows); one such program fits beside two private
ones only with the shared part capped at 192 registers (131 KB of shared memory, 528 B of
spill stack) and the private part on one warp a program (255 registers, no spill; the same
speed as its 4 warps, ``../lean_warps/one_warp.py``). Variants:
- ``product``;
- ``w1``: the private part on one warp, two programs an SM (the same plan);
- ``rows128``: ``w1`` with a fourth tile of 128 rows × 64 keys and 8 warps for the shared
  part, capped at 192 registers. The product's launcher passes no register cap to the shared
  part, so this script wraps the pack kernel's launch to add it to 8-warp builds. The plan
  then gives each prefix one row tile in four 1,024-token chunks (four shared partials a
  request instead of two);
- ``rows128w4``: the product's 4 warps and private part with a fourth tile of 128 rows × 32
  keys (the shared part's registers as the product's: 255, some spills in its loops);
- ``rows128p``: ``rows128``'s shared part beside the product's private part, to run with
  ``SHARED_REGISTERS=128`` (run in session 64: +13 to +21 µs a layer, README).
Each variant's forward (the pair and the merge) in the server-like layer of
``../pdl_after_rope/layer.py`` after the read-only flush and the write flush, then the shared
part alone (``../contention/parts.py``). With ``ORDER=1`` each variant's forward is also timed
with the shared part launched before the private part (``layer.shared_first``).
"""

import dataclasses
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "contention"))
from graph_timing import PAIR_SHAPES, read_flush, run_shapes  # noqa: E402
from layer import (  # noqa: E402
    lean_build,
    menu_variants,
    print_after_flushes,
    shared_first,
    storing,
    with_variants,
)
from parts import one_part  # noqa: E402
from sglang_pat.kernels import launch  # noqa: E402

from sglang_pat.cost_model import TileConfig  # noqa: E402

SHAPES = PAIR_SHAPES[:7]
SHARED_WARPS = 8
# register caps a thread: the 8-warp shared part, the one-warp private part (environment, to
# run the script again with other caps; 192 and 255 fill the register file exactly)
SHARED_REGISTERS = int(os.environ.get("SHARED_REGISTERS", "192"))
PRIVATE_REGISTERS = int(os.environ.get("PRIVATE_REGISTERS", "255"))
ORDER = os.environ.get("ORDER") == "1"  # also each variant with the shared part launched first


class _CappedLaunch:
    """The pack kernel, launched with ``maxnreg`` added to its 8-warp builds."""

    def __init__(self, kernel) -> None:
        self.kernel = kernel
        self.builds: set[tuple[int, int, int]] = set()

    def __getitem__(self, grid):
        launcher = self.kernel[grid]

        def run(*args, **kwargs):
            if kwargs.get("num_warps") == SHARED_WARPS:
                kwargs.setdefault("maxnreg", SHARED_REGISTERS)
            compiled = launcher(*args, **kwargs)
            build = (kwargs["num_warps"], compiled.n_regs, compiled.metadata.shared)
            self.builds.add(build)  # (warps, registers, shared memory) of each launched build
            return compiled

        return run


# The product's menu with the private part on one warp a program
one_warp = lean_build(num_warps=1, max_registers=PRIVATE_REGISTERS)


def rows128(stock):
    """``one_warp`` with a 128 × 64 tile and 8 warps for the shared part."""
    tiles = stock.tiles + (TileConfig(128, 64),)
    return dataclasses.replace(one_warp(stock), tiles=tiles, num_warps=SHARED_WARPS)


def rows128w4(stock):
    """The product's menu with a 128 × 32 tile on its 4 warps: 64-key blocks spill 37 values a
    block at 4 warps, 32-key ones 4 (offline SASS, session 63)."""
    return dataclasses.replace(stock, tiles=stock.tiles + (TileConfig(128, 32),))


def rows128p(stock):
    """A 128 × 64 tile and 8 warps for the shared part beside the product's private part (4
    warps, 128 registers). With ``SHARED_REGISTERS=128`` each SM sub-partition's 16,384
    registers hold the shared part's two warps and one warp of each private program (4,096
    each), which ``rows128``'s one-warp private programs beside 192-register shared warps do
    not (``overlap.py``); at 128 registers the 128-row tile's loop spills 2 values a block, the
    64-row one's 24 (offline SASS, session 63). Prepared in session 63, not yet run."""
    tiles = stock.tiles + (TileConfig(128, 64),)
    return dataclasses.replace(stock, tiles=tiles, num_warps=SHARED_WARPS)


MENUS = {"w1": one_warp, "rows128": rows128, "rows128w4": rows128w4, "rows128p": rows128p}


def run_shape(shape: str, flush) -> None:
    layer = with_variants(shape, menu_variants(MENUS))
    if layer is None:
        return
    _, server, decoders = layer
    for name, decoder in list(decoders.items())[1:]:
        print(f"{shape}: {name} splits {decoder.splits}, {decoder.num_programs} programs")
    forwards = {name: storing(decoder) for name, decoder in decoders.items()}
    if ORDER:
        forwards |= {f"{name} shared first": shared_first(d) for name, d in decoders.items()}
    flushes = {"read": read_flush(flush), "write": flush}
    print_after_flushes(server, f"{shape} forward", forwards, flushes)
    alone = {name: one_part(decoder, "shared") for name, decoder in decoders.items()}
    _, _, line = server.time_attentions(alone, read_flush(flush))
    print(f"{shape} shared part alone (read flush): {line}", flush=True)


if __name__ == "__main__":
    launch._pack_decode_kernel = _CappedLaunch(launch._pack_decode_kernel)
    print(f"# shared part {SHARED_REGISTERS} registers, private part {PRIVATE_REGISTERS}")
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
