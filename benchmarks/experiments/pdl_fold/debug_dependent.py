"""Why the one-stream pair + merge gave NaN in session 51's run.py: where the NaNs are, and
whether a merge after a device sync (or the private part alone, after a sync) repairs them.
With ``pdl-fold.patch`` applied; not run yet (no H200 could be had again in session 51)."""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from providers import HEAD_DIM, batch_for  # noqa: E402
from run import split_decoder  # noqa: E402
from sglang_pat.kernels.launch import merge_states, pack_decode  # noqa: E402

from sglang_pat.cost_model import default_tile_menu  # noqa: E402

batch = batch_for(sys.argv[1] if len(sys.argv) > 1 else "gsp:4x32:4096+208:b128:s0")
decoder = split_decoder(batch, default_tile_menu(HEAD_DIM, batch.q.shape[1] // batch.k.shape[1]))
out = torch.empty_like(batch.q)
args = (batch.q, batch.k, batch.v, out, decoder.kv_indices, decoder.items, decoder.members)
args += (decoder.header, decoder.queue, decoder.partial_o, decoder.partial_lse)
options = dict(menu=decoder.menu, sm_scale=batch.sm_scale, check=False)
merge = (out, decoder.partial_o, decoder.partial_lse, decoder.req_partial_indptr)


def nan_rows(tag: str) -> None:
    torch.cuda.synchronize()
    rows = torch.isnan(out.float()).any(dim=2).any(dim=1).nonzero().flatten().tolist()
    lse_nan = torch.isnan(decoder.partial_lse[: decoder.plan.num_partials]).any(dim=1)
    print(f"{tag}: {len(rows)} NaN rows {rows[:8]}; NaN lse slots {lse_nan.sum().item()}")


def pair(dependent: bool, sync: bool) -> None:
    decoder.partial_lse.fill_(float("nan"))
    out.fill_(float("nan"))
    pack_decode(*args, num_programs=decoder.num_programs, part="shared", trigger=dependent,
                **options)  # fmt: skip
    if sync:
        torch.cuda.synchronize()
    pack_decode(*args, num_programs=decoder.num_private_programs, part="private",
                dependent=dependent, **options)  # fmt: skip
    merge_states(*merge)


for dependent, sync in ((False, True), (False, False), (True, False), (True, True)):
    pair(dependent, sync)
    nan_rows(f"dependent={dependent} sync={sync}")
    merge_states(*merge)
    nan_rows("  merged again after a sync")
print("header", decoder.header.tolist())
