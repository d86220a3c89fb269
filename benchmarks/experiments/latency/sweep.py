"""Latency experiments on the pack kernel: menus × register caps.

python benchmarks/experiments/latency/sweep.py WORKLOADS -- MENU[:rREGS] ...
  MENU: 16x128,32x64,64x64:w4:s3:p2 (profile_pat syntax); rREGS caps registers (maxnreg).
Prints all / shared-only / private-only µs (no merge) and the max error against fp32.
With --ncu it only runs each (workload, config) forward 3 times eagerly, for Nsight Compute.
"""

import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import sglang_pat.kernels.launch as launch  # noqa: E402
import sglang_pat.kernels.pack_decode as pd  # noqa: E402
from profile_pat import parse_menu, split_times  # noqa: E402
from providers import Batch, make_decoder  # noqa: E402
from workloads import tree_workload  # noqa: E402


class _Capped:
    """The pack kernel launched with a register cap."""

    def __init__(self, kernel, maxnreg):
        self.kernel, self.maxnreg = kernel, maxnreg

    def __getitem__(self, grid):
        launcher = self.kernel[grid]
        return lambda *a, **k: launcher(*a, maxnreg=self.maxnreg, **k)


def use(maxnreg: int | None) -> None:
    """Launch the pack kernel with a register cap (None: the compiler's choice)."""
    kernel = pd._pack_decode_kernel
    launch._pack_decode_kernel = _Capped(kernel, maxnreg) if maxnreg else kernel


def main() -> None:
    args = sys.argv[1:]
    ncu = "--ncu" in args
    args = [a for a in args if a != "--ncu"]
    split = args.index("--")
    specs, configs = args[:split], args[split + 1 :]
    flush = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")
    for spec in specs:
        batch = Batch(tree_workload(spec), 32, 8)
        for config in configs:
            parts = config.split(":")
            menu_text = ":".join(parts[:4])
            maxnreg = int(parts[4][1:]) if len(parts) > 4 else None
            use(maxnreg)
            menu = parse_menu(menu_text)
            try:
                decoder = make_decoder(batch, menu)
                out = torch.empty_like(batch.q)
                for _ in range(3 if ncu else 1):
                    decoder.forward(batch.q, batch.k, batch.v, out, sm_scale=batch.sm_scale)
                torch.cuda.synchronize()
                if ncu:
                    print(f"ncu {spec} {config}", flush=True)
                    continue
                err = max_error(batch, out)
                total, shared, private = split_times(batch, menu, flush)
            except Exception as error:  # out of resources, ...
                print(f"{spec} {config}: {type(error).__name__} {str(error)[:100]}", flush=True)
                continue
            print(
                f"{spec:16s} {config:44s} all {total:6.1f} shared {shared:6.1f}"
                f" private {private:6.1f} err {err:.4f}",
                flush=True,
            )


def max_error(batch, out) -> float:
    err = 0.0
    group = batch.q.shape[1] // batch.k.shape[1]
    for b in range(0, batch.q.shape[0], max(1, batch.q.shape[0] // 8)):
        slots = batch.req_to_token[batch.pool_rows[b], : batch.seq_lens[b]].long()
        keys = batch.k[slots].float().repeat_interleave(group, dim=1)
        values = batch.v[slots].float().repeat_interleave(group, dim=1)
        scores = torch.einsum("hd,lhd->hl", batch.q[b].float(), keys) * batch.sm_scale
        ref = torch.einsum("hl,lhd->hd", scores.softmax(-1), values)
        err = max(err, (out[b].float() - ref).abs().max().item())
    return err


if __name__ == "__main__":
    main()
