"""CPU check of ``heads_kernel.py`` under the Triton interpreter, against the reference.

TRITON_INTERPRET=1 python benchmarks/experiments/head_rows/check_cpu.py

Per tree (small, fp16, 32 q / 8 KV heads, d = 64), on the product's plan with the split forced:
the variant writes the private tails' partials (``run.private_tails``) for 1, 2, 4 and 8
heads a unit, the stock shared part and the merge follow, and the output must match
``tests/helpers.reference_decode`` within fp16's tolerance.
"""

import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
for path in (ROOT / "tests", ROOT / "benchmarks", HERE):
    sys.path.insert(0, str(path))
from heads_kernel import launch_heads_private  # noqa: E402
from helpers import decoder_for, make_batch, reference_decode, tile_menu  # noqa: E402
from run import private_tails  # noqa: E402
from sglang_pat.kernels.launch import merge_states, pack_decode  # noqa: E402

from sglang_pat.forest import PrefixForest  # noqa: E402

TREES = ["2,16_512,20", "1,8_1024,33"]  # shared packs and packed tails, odd lengths


def main() -> None:
    for spec in TREES:
        forest = PrefixForest.from_tree_spec(spec)
        kv = make_batch(forest, num_q_heads=32, num_kv_heads=8, head_dim=64, dtype=torch.float16)
        menu = tile_menu(64, 4, "always")
        decoder = decoder_for(
            kv, max_requests=forest.num_requests, max_kv_indices=int(forest.seq_lens.sum()),
            menu=menu,
        )  # fmt: skip
        decoder.plan_step(forest, kv.pool_rows, kv.req_to_token, for_graph=True)
        plan = decoder.plan
        assert plan.num_shared_items > 0, "the check needs shared items"
        scale = 64**-0.5
        ref = reference_decode(kv, scale)
        tails = torch.from_numpy(private_tails(plan))
        for heads in (1, 2, 4, 8):
            out = torch.full_like(kv.q, float("nan"))
            launch_heads_private(
                kv.q, kv.k_buffer, kv.v_buffer, out, decoder.kv_indices, tails,
                decoder.partial_o, decoder.partial_lse, scale, heads_per_unit=heads, block_n=16,
                stages=2, num_programs=7,
            )  # fmt: skip
            pack_decode(
                kv.q, kv.k_buffer, kv.v_buffer, out, decoder.kv_indices, decoder.items,
                decoder.members, decoder.header, decoder.queue, decoder.partial_o,
                decoder.partial_lse, menu=menu, num_programs=decoder.num_programs,
                sm_scale=scale, part="shared",
            )  # fmt: skip
            merge_states(out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)
            err = (out.float() - ref).abs().max().item()
            print(f"{spec}: {heads} heads a unit, max |out - reference| {err:.2e}", flush=True)
            assert err < 2e-2, (spec, heads, err)
    print("ok")


if __name__ == "__main__":
    main()
