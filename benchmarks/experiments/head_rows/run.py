"""Experiment: the private tails read a token row of several KV heads at a time (H200).

python benchmarks/experiments/head_rows/run.py [SHAPE ...] [-- VARIANT ...]
  SHAPE as providers.batch_for (default: gsp 4 x 32's batch at tails 140, 256 and 368);
  VARIANT ``hH:nN:sS[:pP]``: H KV heads a unit, N keys a block, S stages, P programs an SM
  (default 2, the lean kernel's private part), e.g. h4:n16:s2.

The lean pair's private part reads one KV head's 256 B of each 2 KB token row per unit.
Pure loads of whole rows read 6% faster than loads in that shape (``../private_bw/``), and
gsp 4 x 32's pair is about 1.4x its bound with the private part the longer of the two
(``../private_occupancy/``: 47.4 us alone at tails 256). ``heads_kernel.py`` reads H heads
of each row per unit. Per shape, on the default plan with the split forced
(``gluon_shared/pair.split_decoder``), timed side by side in CUDA graphs after the benchmarks'
flush (``graph_timing.checked_medians``, 3 rounds):
- ``stock pair``: the decoder's forward (private part forked beside the shared part, merge);
- ``stock private``: the private part alone (no merge);
- per variant, ``V alone``: the variant over the same private tails, writing the same partial
  slots; ``V pair``: the variant forked beside the stock shared part, joined, then the merge
  (``providers.forked_pair`` with the variant as its private part);
  its output is compared with the stock pair's (max |difference| after the line).
No new K/V is stored by any of them (the decoders are built without ``stores_new_kv``).
"""

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent / "gluon_shared"))
sys.path.insert(0, str(HERE))
from graph_timing import checked_medians, run_shapes  # noqa: E402
from heads_kernel import launch_heads_private  # noqa: E402
from pair import split_decoder  # noqa: E402
from providers import forked_pair  # noqa: E402
from sglang_pat.kernels.launch import pack_decode, prefer_max_shared_carveout  # noqa: E402

SHAPES = ["gsp:4x32:4096+140:b128:s0", "gsp:4x32:4096+256:b128:s0", "gsp:4x32:4096+368:b128:s0"]
VARIANTS = [
    *("h1:n32:s3", "h2:n16:s3", "h2:n32:s3", "h4:n16:s2", "h4:n16:s3", "h8:n16:s2"),
    *("h2:n16:s3:p4", "h4:n16:s2:p1"),
]


def private_tails(plan) -> np.ndarray:
    """The plan's private tails as ``(batch, slot, kv_start, kv_len)``: each packed tail's
    member writes slot ``slot_base``, a one-request item's ``slot_base + chunk`` (-1: the
    output)."""
    tails = []
    for kv_start, kv_len, first, count, chunk, _ in plan.items[plan.num_shared_items :]:
        for batch, slot_base, start, length in plan.members[first : first + count]:
            if chunk < 0:
                tails.append((batch, slot_base, start, length))
            else:
                slot = slot_base + chunk if slot_base >= 0 else -1
                tails.append((batch, slot, kv_start, kv_len))
    return np.asarray(tails, dtype=np.int32)


def run_shape(shape: str, flush, variants: list[str]) -> None:
    split = split_decoder(shape)
    if split is None:
        return
    batch, menu, decoder = split
    tails = torch.from_numpy(private_tails(decoder.plan)).cuda()
    q, k, v, scale = batch.q, batch.k, batch.v, batch.sm_scale
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    outs = {"stock pair": torch.empty_like(q)}
    scratch = torch.empty_like(q)

    def stock_private() -> None:
        pack_decode(
            q, k, v, scratch, decoder.kv_indices, decoder.items, decoder.members, decoder.header,
            decoder.queue, decoder.partial_o, decoder.partial_lse, menu=menu, sm_scale=scale,
            check=False, part="private", num_programs=decoder.num_private_programs,
        )  # fmt: skip

    fns = {
        "stock pair": lambda: decoder.forward(q, k, v, outs["stock pair"], sm_scale=scale),
        "stock private": stock_private,
    }
    for spec in variants:
        fields = dict((f[0], int(f[1:])) for f in spec.split(":"))
        per_sm = fields.get("p", 2)

        def alone(out=scratch, f=fields, p=per_sm) -> object:
            compiled = launch_heads_private(
                q, k, v, out, decoder.kv_indices, tails, decoder.partial_o, decoder.partial_lse,
                scale, heads_per_unit=f["h"], block_n=f["n"], stages=f["s"],
                num_programs=p * sms, maxnreg=128,
            )  # fmt: skip
            prefer_max_shared_carveout(compiled)
            return compiled

        outs[f"{spec} pair"] = out = torch.empty_like(q)
        fns[f"{spec} alone"] = alone
        fns[f"{spec} pair"] = forked_pair(batch, decoder, out, merge=True, private=alone)
        compiled = alone()
        print(f"  {spec}: {compiled.n_regs} registers, {compiled.n_spills} spilled, "
              f"{compiled.metadata.shared} B shared memory", flush=True)  # fmt: skip
    checked = tuple(outs)
    medians, errors, line = checked_medians(fns, outs, checked, flush)
    plan = decoder.plan
    print(f"{shape}: {plan.items.shape[0]} items ({plan.num_shared_items} shared), "
          f"{tails.shape[0]} tails", flush=True)  # fmt: skip
    for name, us in medians.items():
        err = f"  max|diff| {errors[name]:.2e}" if name in errors else ""
        print(f"  {name:20s} {us:7.1f} us{err}", flush=True)


if __name__ == "__main__":
    argv = sys.argv[1:]
    shapes, variants = argv, VARIANTS
    if "--" in argv:
        shapes, variants = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    run_shapes(lambda shape, flush: run_shape(shape, flush, variants), shapes or SHAPES)
