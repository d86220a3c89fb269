"""Experiment: the lean pair's shared-part launch on a grid of its active programs only.

python benchmarks/experiments/shared_grid/run.py [SHAPE ...]   (SHAPE as providers.batch_for)

The shared-part launch runs on the all-items grid (two programs an SM), of which a split plan
gives work to the first ``header[1]`` (one an SM); the others load the header and exit. Each
holds a full program's registers and shared memory while it is resident, room that the
private part's programs, two an SM beside the shared one, need (session 54,
``../pdl_after_rope/``: the pair loses 2-7 µs a layer where its shared part reaches the SMs
early). Here a split plan's shared part launches on ``num_shared_part_programs`` only, in the
server-like layer of ``../pdl_after_rope/layer.py`` (CUDA graphs after the flush, alternated
three times, medians): ``stock`` against ``shared grid``. Only split plans are timed: on a
grid that small a plan kept whole would leave units untaken.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments" / "pdl_after_rope"))
from graph_timing import PAIR_SHAPES, run_shapes  # noqa: E402
from layer import against_first, split_layer  # noqa: E402
from sglang_pat.kernels.launch import pack_decode  # noqa: E402

import sglang_pat.decoder as decoder_module  # noqa: E402

SHAPES = PAIR_SHAPES[:6]  # gsp 4 x 32 at serving's tails, 4,128_4096,256
SHARED_GRID: dict[str, int] = {}  # the shared part's grid while a variant is captured or run


def pack_decode_on_grid(*args, part: str, num_programs: int, **options):
    """The product's ``pack_decode``, the shared part on ``SHARED_GRID``'s grid if set."""
    if part == "shared":
        num_programs = SHARED_GRID.get("programs", num_programs)
    return pack_decode(*args, part=part, num_programs=num_programs, **options)


decoder_module.pack_decode = pack_decode_on_grid


def run_shape(shape: str, flush) -> None:
    split = split_layer(shape)
    if split is None:
        return
    _, server, decoder = split
    active = decoder.scheduler.num_shared_part_programs
    assert int(decoder.header[1]) == active
    variants = {"stock": {}, "shared grid": {"programs": active}}

    def attention(grid: dict[str, int]):
        def fn(q, k, v, out, sm_scale: float, new_kv) -> None:
            SHARED_GRID.clear()
            SHARED_GRID.update(grid)
            decoder.forward(q, k, v, out, sm_scale=sm_scale, new_kv=new_kv)

        return fn

    attentions = {name: attention(grid) for name, grid in variants.items()}
    medians, errors, line = server.time_attentions(attentions, flush)
    grid = f"shared part on {active} of {decoder.num_programs} programs"
    print(f"{shape}: {grid}; {line}; {against_first(medians, errors)}", flush=True)


if __name__ == "__main__":
    run_shapes(run_shape, sys.argv[1:] or SHAPES)
