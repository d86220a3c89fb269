"""Byte-cost model of the pack kernels and the tile menu it chooses from.

Every cost is in bytes of HBM traffic (time × bandwidth), per KV head:

    token cost of a row tile of M rows   c_tok(M) = max(b_kv, 4·D·M · BW / F)
    cost of a pack (n requests, span L)  C(n, L)  = Σ_tiles (L · c_tok(M_t) + c_item) + n · c_part

with b_kv = 2·D·elem (one K and one V row), 4·D·M FLOP per KV token for Q·Kᵀ and P·V on M
padded rows (padding costs compute, never bytes: masked loads move nothing), F the effective
tensor-core rate of the pack kernel, c_item the fixed cost of one work item (prologue, Q load,
epilogue) and c_part = G·(Dv + 1)·4·2 + c_merge the fp32 partial O and LSE of one request
written and read back by the merge, plus the merge's per-partial overhead.

Sharing a span of L tokens among the groups at a node (PAT §4.2, with bytes instead of PAT's
hand-set 4) is worth it when the reads it saves exceed the partials and items it adds:
``scheduler.PackScheduler`` evaluates C over the candidate splits. BW, F, c_item and c_merge
were calibrated on the H200 by ``benchmarks/calibrate_cost_model.py``; the run is recorded in
``benchmarks/results/calibration.json``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .lean_gate import LeanGate


@dataclass(frozen=True)
class TileConfig:
    """One tile shape of the pack kernel: ``block_m`` query rows × ``block_n`` KV tokens.

    ``num_stages`` pipelines this tile's KV loop (0: the menu's). The K/V buffers it adds must
    leave room for the menu's programs per SM (232 KB of shared memory on an H100/H200 SM).
    """

    block_m: int
    block_n: int
    num_stages: int = 0


@dataclass(frozen=True)
class LeanKernel:
    """A second, small build of the pack kernel (its private part) for the private items and
    packed tails, launched beside the shared part when a plan has shared items, so that the
    compute-bound shared units and the memory-bound private ones share each SM instead of
    running as two phases.

    Each SM then holds ``shared_programs_per_sm`` shared-part programs (the rest of that
    launch's fixed grid exits at once) and ``programs_per_sm`` private-part ones, whose
    ``block_n``-key tiles fit in ``max_registers`` registers a thread and the shared memory
    left beside a shared-part program (benchmarks/experiments/two_kernels/README.md).
    ``gate`` decides per plan whether the split pays (``lean_gate``; None: whenever the plan
    has both kinds of item). On by default for head_dim ≤ 128 (``default_tile_menu``; off with
    ``lean=False``); likewise in the SGLang backend (off with ``SGLANG_PAT_LEAN_KERNEL=0``).
    """

    block_n: int = 32
    num_stages: int = 3
    num_warps: int = 4
    max_registers: int = 128
    programs_per_sm: int = 2
    shared_programs_per_sm: int = 1
    gate: LeanGate | None = LeanGate()
    # A CUDA graph replays the private-part launch, forked and joined, on every layer of every
    # step, whatever the plan. Graphs for fewer requests than this (SGLang's batch sizes 1-12)
    # capture the one launch instead, and the plans they replay are kept whole: the Mooncake
    # replay, batches of 1-11, took 4% more mean TPOT with the pair (session 20), and at
    # 10 requests the split gains or loses under 5% on Llama-3-8B's heads (session 18).
    min_graph_batch: int = 16


@dataclass(frozen=True)
class TileMenu:
    """The tile shapes compiled into the one persistent pack kernel, its launch shape, and how
    it packs short private tails."""

    tiles: tuple[TileConfig, ...]
    num_warps: int
    num_stages: int
    programs_per_sm: int
    tail_tile: int = 0  # the tile that packs several requests' short private tails ...
    max_packed_tail: int = 256  # ... up to this many tokens each,
    # or up to this many where the packed items still give each SM a unit: KV heads × items ≥
    # SMs (emit_rows._tail_max_len; 0 or ≤ max_packed_tail: never)
    max_packed_long_tail: int = 0
    lean: LeanKernel | None = None  # private items beside shared ones in a second kernel

    def __post_init__(self) -> None:
        if not 1 <= len(self.tiles) <= 4:
            raise ValueError(f"a menu holds 1 to 4 tiles, got {len(self.tiles)}")
        if any(b.block_m < a.block_m for a, b in zip(self.tiles, self.tiles[1:])):
            raise ValueError("menu tiles must be sorted by block_m")
        if any(t.block_m < 16 or t.block_n < 16 for t in self.tiles):
            raise ValueError("tensor-core tiles need block_m and block_n of at least 16")
        if any(x & (x - 1) for t in self.tiles for x in (t.block_m, t.block_n)):
            raise ValueError("tile sizes must be powers of two (Triton block shapes)")
        if self.num_stages < 1 or any(t.num_stages < 0 for t in self.tiles):
            raise ValueError("num_stages must be at least 1 (0 on a tile: the menu's)")
        if not 0 <= self.tail_tile < len(self.tiles):
            raise ValueError(f"tail_tile {self.tail_tile} is not a tile of the menu")
        if min(self.max_packed_tail, self.max_packed_long_tail) < 0:
            raise ValueError("max_packed_tail and max_packed_long_tail must be at least 0")
        if self.lean and not 1 <= self.lean.shared_programs_per_sm <= self.programs_per_sm:
            raise ValueError("lean.shared_programs_per_sm must be 1 .. programs_per_sm")

    def tile_stages(self) -> tuple[int, ...]:
        """Each tile's pipeline depth."""
        return tuple(t.num_stages or self.num_stages for t in self.tiles)

    @functools.cached_property
    def kernel_tiles(self) -> dict[str, int]:
        """The pack kernel's tile constexprs M0..M3, N0..N3, S0..S3 (unused slots repeat the
        last tile) and MT, NT, ST (the packed tails' tile); computed once, as the launcher runs
        every layer."""
        stages = self.tile_stages()
        out: dict[str, int] = {}
        for i in range(4):
            j = min(i, len(self.tiles) - 1)
            out |= {f"M{i}": self.tiles[j].block_m, f"N{i}": self.tiles[j].block_n}
            out[f"S{i}"] = stages[j]
        tail = self.tiles[self.tail_tile]
        return out | {"MT": tail.block_m, "NT": tail.block_n, "ST": stages[self.tail_tile]}


@functools.cache
def private_part_tiles(menu: TileMenu, group_size: int) -> dict[str, int]:
    """The pack kernel's tile constexprs for its private-part launch (``menu.lean``): every
    one-request item on one ``rows × lean.block_n`` tile (rows: the GQA group, padded to 16),
    packed tails with the menu's tail tile rows; cached, as the launcher runs every layer."""
    lean = menu.lean
    if lean is None:
        raise ValueError("menu: has no lean kernel")
    rows = max(16, 1 << (group_size - 1).bit_length())
    n, stages = lean.block_n, lean.num_stages
    out = {f"{key}{i}": value for i in range(4) for key, value in (("M", rows), ("N", n))}
    out |= {f"S{i}": stages for i in range(4)}
    return out | {"MT": menu.tiles[menu.tail_tile].block_m, "NT": n, "ST": stages}


# GQA group -> (tail tile, longest packed tail, longest where the packed items fill the SMs)
# of the default d ≤ 128 menu, measured on the H200 over the suite and acceptance trees
# (benchmarks/experiments/tail_tile/README.md).
# The 16-row tile packs 16 / G tails: 2 at G = 8 and none at G = 16, so there the 32-row tile
# packs them (4 and 2 a unit). Tails over 128 tokens stay one-request items at G = 2, 8 and
# 16, where packed they made units of many blocks that outlast the launch; at G = 1 and 4 the
# packed 256-token tails measured faster than one-request items. At G = 4 tails of up to 512
# are packed too where that leaves at least a unit per SM (gsp 4 × 32's batch at tails of
# 288-448 tokens: 7-8% faster, with the split; on 1,64_4096,512's 64 requests, 128 units,
# 7% slower; session 44).
_TAIL_PACKING = {
    1: (0, 256, 0),
    2: (0, 128, 0),
    4: (0, 256, 512),
    8: (1, 128, 0),
    16: (1, 128, 0),
}


def default_tile_menu(head_dim: int, group_size: int = 1, lean: bool = True) -> TileMenu:
    """The menu for a head size and GQA group (tuned on the H200 by
    ``benchmarks/profile_pat.py`` and ``benchmarks/experiments/tail_tile/``); ``lean`` adds
    the gated lean kernel for head_dim ≤ 128 (``LeanKernel``)."""
    if head_dim > 128:  # a 128-row fp32 accumulator of 256 columns does not fit in registers
        tiles = (TileConfig(16, 32), TileConfig(32, 32), TileConfig(64, 32))
        return TileMenu(tiles, num_warps=4, num_stages=2, programs_per_sm=2)
    # 4 warps and at most 64 rows keep two programs on each SM; a 128-row tile would need 8
    # warps and leave one, halving the memory-bound private tiles' bandwidth. Three stages
    # give the 64-key tiles three K/V buffers (112 KB at 64 rows, two programs still fit);
    # the 128-key tile keeps two, as three would not fit twice.
    tiles = (TileConfig(16, 128, num_stages=2), TileConfig(32, 64), TileConfig(64, 64))
    tail_tile, max_packed_tail, max_packed_long_tail = _TAIL_PACKING.get(group_size, (0, 256, 0))
    return TileMenu(
        tiles,
        4,
        3,
        2,
        tail_tile=tail_tile,
        max_packed_tail=max_packed_tail,
        max_packed_long_tail=max_packed_long_tail,
        lean=LeanKernel() if lean else None,
    )


@dataclass(frozen=True)
class CostModel:
    """Calibrated constants (H200, see module docstring) and the formulas that use them; the
    chunk cost, which the chunk choice evaluates every step, is compiled in ``chunk_cost``."""

    # benchmarks/results/calibration.json, H200, 2026-11-23 (rounded)
    bandwidth_bytes_per_us: float = 4.27e6
    dot_flops_per_us: float = 1.48e8
    item_overhead_bytes: float = 94000.0
    merge_overhead_bytes: float = 820.0

    def token_cost(self, block_m: int, head_dim: int, kv_elem_bytes: int) -> float:
        """Cost of one KV token for a row tile of ``block_m`` rows (bytes-equivalent)."""
        kv_bytes = 2 * head_dim * kv_elem_bytes
        compute_bytes = 4 * head_dim * block_m * self.bandwidth_bytes_per_us / self.dot_flops_per_us
        return max(float(kv_bytes), compute_bytes)

    def partial_cost(self, group_size: int, v_head_dim: int) -> float:
        """Cost of one more partial result of one request, all its q heads of one KV head."""
        return group_size * (v_head_dim + 1) * 4 * 2 + self.merge_overhead_bytes
