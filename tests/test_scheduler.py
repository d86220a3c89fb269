"""PackScheduler on the CPU: invariants over random forests, lazy update, capacity, bad input."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys

import numpy as np
import pytest
from forests import check_plan, random_forest

from sglang_pat.chunk_choice import private_chunk
from sglang_pat.chunk_cost import chunk_cost, chunk_spread, queue_wait
from sglang_pat.chunking import ChunkCounts
from sglang_pat.cost_model import CostModel, TileConfig, TileMenu, default_tile_menu
from sglang_pat.forest import PrefixForest
from sglang_pat.plan import PlanCapacity, PlanCapacityError
from sglang_pat.scheduler import PackScheduler
from sglang_pat.tail_growth import TailGrowth, _grown_counts

# Every compiled entry point of the planner: (module, function)
COMPILED_PARTS = [
    ("sglang_pat.decisions", "_decide"),
    ("sglang_pat.emit_rows", "_emit_rows"),
    ("sglang_pat.chunking", "_class_counts"),
    ("sglang_pat.chunk_choice", "class_chunks"),
    ("sglang_pat.tail_growth", "_chunks_hold"),
]

SHAPES = [  # (group, head_dim, num_sms, menu, cost)
    (4, 128, 132, None, None),
    (1, 128, 16, None, CostModel(item_overhead_bytes=0.0, merge_overhead_bytes=0.0)),
    (
        8,
        64,
        4,
        TileMenu((TileConfig(16, 32), TileConfig(16, 64), TileConfig(64, 64)), 4, 2, 2),
        None,
    ),
    (16, 256, 132, None, CostModel(dot_flops_per_us=1e9)),
    (2, 128, 2, default_tile_menu(128), CostModel(item_overhead_bytes=1e6)),
    (8, 128, 8, None, CostModel(item_overhead_bytes=0.0, merge_overhead_bytes=0.0)),
    (4, 128, 2, None, None),  # few SMs: tails of up to 512 tokens packed (max_packed_long_tail)
]


def scheduler(shape, fine: bool | None = None, **kwargs) -> PackScheduler:
    """The planner for ``shape``; ``fine``: its ``fine_private_chunks`` (None: its default)."""
    group, head_dim, num_sms, menu, cost = shape
    planner = PackScheduler(
        num_kv_heads=2,
        group_size=group,
        head_dim=head_dim,
        num_sms=num_sms,
        menu=menu,
        cost=cost,
        **kwargs,
    )
    if fine is not None:
        planner.fine_private_chunks = fine
    return planner


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_invariants_over_random_forests(shape: int) -> None:
    """≥ 1,000 forests in all: coverage, slots, tile rows, capacity, determinism."""
    rng = np.random.default_rng(shape)
    for trial in range(220):
        forest = random_forest(rng, long_spans=trial % 3 == 0)
        pool = np.arange(forest.num_requests)
        floors = dict(
            min_chunk_tokens=int(rng.choice([16, 64, 128])),
            min_shared_chunk_tokens=[None, 32, 256][trial % 3],
            shared_units_per_sm=[1, None, 2][trial // 3 % 3],
            fine=trial % 2 == 1,
        )
        planner = scheduler(SHAPES[shape], **floors)
        plan = planner.plan(forest, pool)
        tile_rows = [t.block_m for t in planner.tiles]
        check_plan(plan, forest, tile_rows, planner.group_size)
        again = scheduler(SHAPES[shape], **floors)
        assert again.plan(forest, pool).same_as(plan), "planning must be deterministic"
        capacity = PlanCapacity.for_batch(
            forest.num_requests, int(forest.seq_lens.sum()), max_shared_depth=2
        )
        bounded = scheduler(SHAPES[shape], capacity=capacity, **floors)
        try:
            bounded.plan(forest, pool).check_fits(capacity)
        except PlanCapacityError:
            with pytest.raises(PlanCapacityError):
                plan.check_fits(capacity)  # refused only when it really does not fit
            private = PrefixForest.no_sharing(forest.seq_lens)
            bounded.plan(private, pool).check_fits(capacity)


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_lazy_update_equals_cold_plan(shape: int) -> None:
    rng = np.random.default_rng(100 + shape)
    lazy_steps = 0
    for _ in range(40):
        forest = random_forest(rng)
        pool = rng.permutation(forest.num_requests) + 1
        floor = [None, 64][int(rng.integers(2))]
        fine = bool(rng.integers(2))
        lazy = scheduler(SHAPES[shape], fine, min_shared_chunk_tokens=floor)
        cold = scheduler(SHAPES[shape], fine, min_shared_chunk_tokens=floor)
        for _ in range(12):
            plan = lazy.plan(forest, pool)
            lazy_steps += lazy.last_plan_was_lazy
            assert plan.same_as(cold.plan_cold(forest, pool))
            forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + 1)
    assert lazy_steps > 100, "the lazy path must actually be taken"


@pytest.mark.parametrize("fine", [False, True])
@pytest.mark.parametrize(
    "spec", ["1,8_256,1", "1,8_256,100", "16_250", "1,4,16_512,64,3", "3_600", "1,3_256,580"]
)
def test_lazy_update_across_chunk_ends_config_breaks_and_packing_limits(
    spec: str, fine: bool
) -> None:
    """Tails grown one token at a time for 300 steps cross their chunk ends, the menu's config
    breaks and the packed-tail limit (and fine chunks' ends: 640, 768): every step still
    equals the cold plan."""
    forest = PrefixForest.from_tree_spec(spec)
    pool = np.arange(forest.num_requests) + 1
    lazy, cold = scheduler(SHAPES[0], fine), scheduler(SHAPES[0], fine)
    outcomes = set()
    for _ in range(300):
        plan = lazy.plan(forest, pool)
        outcomes.add(lazy.last_plan_was_lazy)
        assert plan.same_as(cold.plan_cold(forest, pool))
        forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + 1)
    assert outcomes == {True, False}


@pytest.mark.parametrize("floor, fine", [(512, False), (1024, False), (8192, False), (600, True)])
def test_shared_chunk_floor(floor: int, fine: bool) -> None:
    """min_shared_chunk_tokens lengthens the shared packs' chunks only (up to one chunk a
    span), to a power of two even where fine candidates exist (600: 1,024, not 640), and a
    bad floor is refused by name."""
    forest = PrefixForest.from_tree_spec("1,10_4096,416")
    pool = np.arange(forest.num_requests)
    base = scheduler(SHAPES[0], fine, min_chunk_tokens=256).plan(forest, pool)
    planner = scheduler(SHAPES[0], fine, min_chunk_tokens=256, min_shared_chunk_tokens=floor)
    plan = planner.plan(forest, pool)
    check_plan(plan, forest, [t.block_m for t in planner.tiles], planner.group_size)
    shared = plan.items[: plan.num_shared_items]
    assert shared[:, 1].min() == min(1 << (floor - 1).bit_length(), 4096)
    assert base.items[: base.num_shared_items, 1].min() < 512, "the default cuts shorter"
    private = plan.items[plan.num_shared_items :]
    assert np.array_equal(private, base.items[base.num_shared_items :])
    with pytest.raises(ValueError, match="min_shared_chunk_tokens"):
        planner.min_shared_chunk_tokens = 0


@pytest.mark.parametrize(
    ("spec", "group", "chunks"),
    [
        ("1,8_8192,416", 4, (256, 512)),
        ("4,128_4096,256", 4, (1024, 2048)),
        ("1,8_2048,64", 4, (256, 256)),
    ],
)
def test_shared_units_stay_within_one_per_sm(spec: str, group: int, chunks: tuple) -> None:
    """By default the shared chunks make at most one shared unit per SM where a candidate
    allows (the cost model alone cuts shorter: ``chunks`` = (uncapped, capped) shortest shared
    chunk); None lifts the cap."""
    forest = PrefixForest.from_tree_spec(spec)
    pool = np.arange(forest.num_requests)
    plans = {}
    for cap in (None, 1):
        planner = PackScheduler(
            num_kv_heads=8, group_size=group, head_dim=128, num_sms=132, shared_units_per_sm=cap
        )
        plans[cap] = plan = planner.plan(forest, pool)
        check_plan(plan, forest, [t.block_m for t in planner.tiles], group)
    capped, free = plans[1], plans[None]
    assert capped.num_shared_items * 8 <= 132
    shortest = [int(p.items[: p.num_shared_items, 1].min()) for p in (free, capped)]
    assert tuple(shortest) == chunks
    planner.max_shared_units = None
    assert planner.plan(forest, pool).same_as(free)
    with pytest.raises(ValueError, match="max_shared_units"):
        planner.max_shared_units = 0


def test_lazy_update_refuses_changed_batches() -> None:
    forest = PrefixForest.from_tree_spec("1,4_256,17")
    planner = scheduler(SHAPES[0])
    planner.plan(forest, [1, 2, 3, 4])
    grown = dataclasses.replace(forest, seq_lens=forest.seq_lens + 1)
    planner.plan(grown, [1, 2, 3, 5])  # another pool row: a new request
    assert not planner.last_plan_was_lazy
    planner.plan(dataclasses.replace(grown, seq_lens=grown.seq_lens + 2), [1, 2, 3, 5])
    assert not planner.last_plan_was_lazy  # grew by two tokens


def test_worked_example_shares_the_prefix() -> None:
    forest = PrefixForest.from_tree_spec("1,64_4096,512")
    plan = scheduler(SHAPES[0]).plan(forest, np.arange(64))
    assert plan.num_kv_indices == 4096 + 64 * 512, "the shared prefix is gathered once"


def test_short_spans_are_not_worth_a_pack() -> None:
    forest = PrefixForest.from_tree_spec("1,4_2,500")
    plan = scheduler(SHAPES[0]).plan(forest, np.arange(4))
    assert plan.segments.shape[0] == 4 and plan.num_kv_indices == 4 * 502, "no shared pack"


def test_capacity_is_enforced() -> None:
    forest = PrefixForest.from_tree_spec("1,8_512,64")
    planner = scheduler(SHAPES[0], capacity=PlanCapacity.for_batch(8, 1000))
    with pytest.raises(PlanCapacityError, match="max_kv_indices"):
        planner.plan(forest, np.arange(8))


def test_bad_input() -> None:
    forest = PrefixForest.from_tree_spec("1,4_16,3")
    with pytest.raises(ValueError, match="req_pool_indices"):
        scheduler(SHAPES[0]).plan(forest, [1, 2, 3])
    with pytest.raises(ValueError, match="group_size"):
        PackScheduler(num_kv_heads=1, group_size=128, head_dim=128, num_sms=1)
    with pytest.raises(ValueError, match="positive"):
        PackScheduler(num_kv_heads=0, group_size=1, head_dim=128, num_sms=1)


def test_tile_pipeline_depths() -> None:
    menu = default_tile_menu(128)
    assert menu.tile_stages() == (2, 3, 3)  # the 128-key tile would not fit twice at 3
    assert [menu.kernel_tiles[f"S{i}"] for i in range(4)] == [2, 3, 3, 3]  # last one repeated
    with pytest.raises(ValueError, match="num_stages"):
        TileMenu((TileConfig(16, 64, num_stages=-1),), 4, 3, 2)
    with pytest.raises(ValueError, match="num_stages"):
        TileMenu((TileConfig(16, 64),), 4, 0, 2)


def test_short_tails_pack_in_the_menus_tail_tile() -> None:
    """G = 8 packs short tails 4 a unit with the 32-row tile; tails over 128 tokens stay
    one-request items of tile 0. Other groups keep tile 0 (bad tail tiles are refused)."""
    assert [default_tile_menu(128, g).tail_tile for g in (1, 2, 4, 8, 16)] == [0, 0, 0, 1, 1]
    assert default_tile_menu(256, 8).tail_tile == 0
    with pytest.raises(ValueError, match="tail_tile"):
        dataclasses.replace(default_tile_menu(128), tail_tile=3)
    planner = PackScheduler(num_kv_heads=2, group_size=8, head_dim=128, num_sms=132)
    forest = PrefixForest.from_tree_spec("1,6_1024,32")
    forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + np.array([0] * 5 + [200]))
    items = planner.plan(forest, np.arange(6)).items
    packed, single = items[items[:, 4] < 0], items[(items[:, 3] == 1) & (items[:, 4] >= 0)]
    assert packed[:, 5].tolist() == [1, 1] and packed[:, 3].tolist() == [4, 1]
    assert single[:, 5].tolist() == [0] and single[:, 1].tolist() == [232]


@pytest.mark.parametrize(
    "spec, packed_items",
    [
        ("4,128_4096,320", [4] * 32),  # 32 items x 8 KV heads: 256 units for 132 SMs
        ("1,68_4096,448", [4] * 17),  # 136 units
        ("1,64_4096,320", []),  # 128 units: the tails stay one-request items
        ("1,128_4096,600", []),  # over 512 tokens
        ("1,64_4096,200", [4] * 16),  # up to 256 tokens packed at any count
    ],
)
def test_long_tails_pack_where_the_packed_units_cover_the_sms(spec: str, packed_items) -> None:
    """At G = 4 tails of 257-512 tokens are packed four a unit only where the packed units
    give each SM one at least (emit_rows._tail_max_len)."""
    planner = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
    forest = PrefixForest.from_tree_spec(spec)
    plan = planner.plan(forest, np.arange(forest.num_requests))
    packed = plan.items[plan.items[:, 4] < 0]
    assert packed[:, 3].tolist() == packed_items
    tail = int(forest.seq_lens[0] - forest.node_end.max())
    assert (packed[:, 1] == tail).all()
    if not packed_items:  # one item (or more, chunked) a request
        private = plan.items[plan.num_shared_items :]
        assert (private[:, 3] == 1).all() and private.shape[0] >= forest.num_requests


@pytest.mark.parametrize("spec", ["1,40_256,480", "1,8,40_256,64,250", "2,30_128,500"])
def test_lazy_update_across_the_long_packed_tail_limit(spec: str) -> None:
    """Tails packed under the long limit (few SMs, so few units cover them) grow past 512
    tokens: the lazy update stops there, and every step equals the cold plan."""
    forest = PrefixForest.from_tree_spec(spec)
    pool = np.arange(forest.num_requests) + 1
    lazy, cold = scheduler(SHAPES[-1]), scheduler(SHAPES[-1])
    packed_lengths, outcomes = set(), set()
    for _ in range(300):
        plan = lazy.plan(forest, pool)
        outcomes.add(lazy.last_plan_was_lazy)
        assert plan.same_as(cold.plan_cold(forest, pool))
        items = plan.items
        packed_lengths |= set(items[items[:, 4] < 0, 1].tolist())
        forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + 1)
    assert outcomes == {True, False}
    assert max(packed_lengths) == 512, "tails up to 512 tokens are packed, no longer ones"


def test_private_units_queue_behind_the_shared_ones() -> None:
    """``chunk_cost.queue_wait``: private units beyond the programs the shared units leave free
    start when those end; units that all fit beside them end with them (no whole waves of
    their own, which cut tails that need not be: 47% slower on the H200, session 34). At G = 8
    without the shared units' cap, the shared units of ``1,10_4096,416`` hold 256 of 264
    programs, so the 416-token private tails are cut in two; with the cap (128 units) and at
    G = 4 they stay whole."""
    assert queue_wait(256, 30.0, 264) == (30.0, 8)
    assert queue_wait(600, 30.0, 264) == (90.0, 0)

    def private(units: int, queued: tuple[float, int], work: float = 1.0) -> float:
        spread = chunk_spread(0.0, 0, 0, 0.0, work, 264, 1, True)
        return chunk_cost(spread, 10, 10, 1.0, 0.0, 264, True, units, *queued)

    assert private(80, (0.0, 0)) == 10.0  # units of 10 B, one wave
    assert private(80, (0.0, 0), work=264 * 25.0) == 30.0  # the spread in whole waves
    assert private(80, queue_wait(128, 30.0, 264)) == 30.0  # 136 free programs
    # the spread past the shared units' end, not rounded up to whole waves (40)
    assert private(80, queue_wait(128, 30.0, 264), work=264 * 31.0) == 31.0
    # 8 free programs run 3 units each before the shared units end at 30, 56 start then
    assert private(80, queue_wait(256, 30.0, 264)) == 40.0
    assert private(80, queue_wait(600, 30.0, 264)) == 100.0
    forest = PrefixForest.from_tree_spec("1,10_4096,416")
    for group, per_sm, private_items in ((8, None, 20), (8, 1, 10), (4, 1, 10)):
        planner = PackScheduler(
            num_kv_heads=8, group_size=group, head_dim=128, num_sms=132, shared_units_per_sm=per_sm
        )
        items = planner.plan(forest, np.arange(10)).items
        assert int((items[:, 3] == 1).sum()) == private_items


@pytest.mark.parametrize("fine", [False, True])
def test_tail_growth_counts_equal_recounting(fine: bool) -> None:
    """The lazy update's chunk counts (sorted residues, bisection) equal counting the grown
    tiles directly, at steps short of and past every candidate length (the fine ones too,
    whose reciprocals are inexact: the counts stay exact)."""
    rng = np.random.default_rng(0)
    shared_len = rng.integers(1, 3000, 7)
    tail_len = rng.integers(1, 3000, 40)
    lens = np.concatenate([shared_len, tail_len])
    members = np.concatenate([rng.integers(2, 9, 7), np.ones(40, dtype=np.int64)])
    config = rng.integers(0, 3, lens.shape[0])
    lens[:4] = (640, 768, 1280, 1920)  # whole multiples of fine candidates
    base = ChunkCounts.of_tiles(lens, members, config, 7, 3, 256, 512, fine)
    assert (640 in base.candidates) == fine and (768 in base.candidates) == fine
    growth = TailGrowth.of_tails(base, tail_len, config[7:])
    for step in (1, 2, 255, 256, 257, 640, 767, 768, 1000, 4095):
        items, member_chunks = _grown_counts(
            base.items, base.member_chunks, growth.classes, growth.tails, growth.residues,
            base.candidates, step,
        )  # fmt: skip
        grown = np.concatenate([lens[:7], tail_len + step])
        per_tile = -(-grown[:, None] // np.asarray(base.candidates)[None, :])
        for c in range(3):
            mine = config == c
            assert np.array_equal(items[c], per_tile[mine].sum(axis=0))
            assert np.array_equal(member_chunks[c], members[mine] @ per_tile[mine])


@pytest.mark.parametrize("spec", ["6_3300", "2_8000", "8_2500"])
def test_small_private_batches_fill_one_wave(spec: str) -> None:
    """A few long private requests are cut so their units fill the programs once (measured
    8-18% faster on the H200 than the 256-token floor, which needs 2-3 waves)."""
    forest = PrefixForest.from_tree_spec(spec)
    planner = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
    plan = planner.plan(forest, np.arange(forest.num_requests))
    units = plan.items.shape[0] * 8
    assert planner.num_programs // 2 < units <= planner.num_programs


@pytest.mark.parametrize(("kv_heads", "group", "fine"), [(8, 4, True), (32, 1, False)])
def test_private_units_past_one_wave_cost_a_second(kv_heads: int, group: int, fine: bool) -> None:
    """Units past the programs' count wait a whole unit (the kernel deals them as programs
    start): six 3,300-token requests are not cut into 288 units of 640 tokens (fine chunks;
    6_3300 took 43.2 µs at 640 against 36.5 at 768 on the H200, fine_chunks.py, session 39),
    nor, at 32 KV heads, into 42 items (1,344 units) where whole requests make 192."""
    forest = PrefixForest.from_tree_spec("6_3300")
    planner = PackScheduler(num_kv_heads=kv_heads, group_size=group, head_dim=128, num_sms=132)
    planner.fine_private_chunks = fine
    plan = planner.plan(forest, np.arange(forest.num_requests))
    check_plan(plan, forest, [t.block_m for t in planner.tiles], planner.group_size)
    assert plan.items.shape[0] * kv_heads <= planner.num_programs


def small_batch_plans(spec: str, apart: bool, fine: bool):
    forest = PrefixForest.from_tree_spec(spec)
    planner = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
    planner.private_tails_chunked_apart = apart
    planner.fine_private_chunks = fine
    return planner.plan(forest, np.arange(forest.num_requests)), planner, forest


@pytest.mark.parametrize("fine", [False, True], ids=["powers", "fine"])
@pytest.mark.parametrize("spec", ["1,3_256,3000", "1,4_256,3000", "1,4_256,2500", "1,3_256,6000"])
def test_private_tails_beside_a_small_pack_keep_their_own_chunks(spec: str, fine: bool) -> None:
    """A pack of 3-4 requests takes the private tails' 16-row tile: the tails are still cut
    as private tails (whole waves), not by the shared packs' rule, which doubled their items
    and partials (H200, powers of two: 25.6-38.4 µs a layer against 35.0-48.8,
    tails_apart.py). Fine chunks cut the tails shorter than the powers of two do, within the
    one wave, still into fewer items and partials than the shared rule."""
    apart, planner, forest = small_batch_plans(spec, apart=True, fine=fine)
    together, _, _ = small_batch_plans(spec, apart=False, fine=fine)
    check_plan(apart, forest, [t.block_m for t in planner.tiles], planner.group_size)
    assert apart.num_shared_items >= 1  # the prefix is still read once
    assert apart.items.shape[0] * 8 <= planner.num_programs  # one wave, as with no sharing
    if not fine:
        assert 2 * apart.items.shape[0] <= together.items.shape[0] + 2
    assert apart.items.shape[0] < together.items.shape[0]
    assert apart.num_partials < together.num_partials


def test_private_tails_chunk_with_the_shared_packs_where_those_hold_most_work() -> None:
    """gsp defaults' batch (2,048-token packs beside short tails): one chunk length per config,
    as before (apart, the plan took 207.5 µs a layer against 203.4 on the H200)."""
    forest = PrefixForest.from_tree_spec("64,256_2048,178")
    pool = np.arange(forest.num_requests)
    default = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
    together = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
    together.private_tails_chunked_apart = False
    assert default.plan(forest, pool).same_as(together.plan(forest, pool))


def test_lazy_update_stops_where_the_tails_outgrow_the_shared_work() -> None:
    """The private tails start just under the shared pack's work (4 × 990 against 4,000
    tokens of the same tile) and grow a token a step: the lazy update hands over to cold plans
    at steps 10 and 11, where the classes change, and every step equals the cold plan."""
    forest = PrefixForest.from_tree_spec("1,4_4000,990")
    pool = np.arange(forest.num_requests)
    shape = dict(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
    lazy, cold, together = (PackScheduler(**shape) for _ in range(3))
    together.private_tails_chunked_apart = False
    outcomes = []
    for _ in range(60):
        plan = lazy.plan(forest, pool)
        outcomes.append(lazy.last_plan_was_lazy)
        assert plan.same_as(cold.plan_cold(forest, pool))
        forest = dataclasses.replace(forest, seq_lens=forest.seq_lens + 1)
    assert all(outcomes[1:10]) and not outcomes[10] and not outcomes[11] and any(outcomes[12:])
    assert not plan.same_as(
        together.plan_cold(dataclasses.replace(forest, seq_lens=forest.seq_lens - 1), pool)
    )


@pytest.mark.parametrize(
    ("spec", "coarse", "fine"), [("1,3_256,6000", 1024, 640), ("1,7_256,3000", 1024, 768)]
)
def test_fine_chunks_shorten_a_one_wave_plans_longest_unit(spec, coarse, fine) -> None:
    """With ``fine_private_chunks`` a small batch's private tails take the chunk between the
    powers of two that keeps one wave (H200, fine_chunks.py: 38.4 -> 35.0 and 40.8 -> 38.6 µs
    a layer); the shared pack keeps a power of two; off, the plan is the one before."""
    forest = PrefixForest.from_tree_spec(spec)
    plans = {}
    for on in (False, True):
        planner = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
        planner.fine_private_chunks = on
        plans[on] = plan = planner.plan(forest, np.arange(forest.num_requests))
        check_plan(plan, forest, [t.block_m for t in planner.tiles], planner.group_size)
        private = plan.items[plan.num_shared_items :]
        assert int(private[:, 1].max()) == (fine if on else coarse)
        assert private.shape[0] * 8 <= planner.num_programs
        shared_lens = plan.items[: plan.num_shared_items, 1].tolist()
        assert shared_lens == [256]  # the prefix: one item, read once
    assert plans[True].items.shape[0] > plans[False].items.shape[0]


@pytest.mark.parametrize("spec", ["1,32_2500,1000", "1,2_5000,256"])
def test_shared_packs_keep_power_of_two_chunks_with_fine_candidates(spec: str) -> None:
    """Fine candidates are for private-only classes: a config with shared packs is cut at a
    power of two whatever the knob (its chunks were measured at those). Allowed the fine
    ones, these packs would take 640 (the cost model's choice) and 384 (the shared units'
    cap's shortest fit)."""
    forest = PrefixForest.from_tree_spec(spec)
    plans = []
    for on in (False, True):
        planner = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
        planner.fine_private_chunks = on
        plans.append(planner.plan(forest, np.arange(forest.num_requests)))
    shared = [p.items[: p.num_shared_items] for p in plans]
    assert np.array_equal(shared[0], shared[1])
    chunk = int(shared[1][:, 1].max())
    assert chunk & (chunk - 1) == 0


@pytest.mark.parametrize("fine", [False, True])
def test_private_chunk_choice_stops_early_only_where_nothing_cheaper_is_left(fine: bool) -> None:
    """The private-only chunk choice stops at the spread work (``chunk_cost.chunk_spread``);
    over random tails, work, waits and constants it takes the chunk that every candidate's
    cost gives (ascending from its first, a tie to the longer)."""
    rng = np.random.default_rng(int(fine))
    for _ in range(400):
        tails = rng.integers(1, 6000, int(rng.integers(1, 300)))
        ones = np.ones_like(tails)
        counts = ChunkCounts.of_tiles(tails, ones, ones * 0, 0, 1, 128, 128, fine)
        candidates, items, partials = counts.candidates, counts.items[0], counts.member_chunks[0]
        tiles, members = int(counts.tiles[0]), int(counts.members[0])
        max_len = int(tails.max())
        first = int(rng.integers(0, np.searchsorted(candidates, max_len) + 1))
        heads, programs = int(rng.choice([1, 8, 32])), int(rng.choice([8, 264]))
        overhead, partial = float(rng.choice([0.0, 94000.0])), float(rng.choice([0.0, 5000.0]))
        token = float(rng.choice([4096.0, 9000.0]))
        work = heads * (float(tails.sum()) * token + overhead * tails.shape[0])
        work += float(rng.choice([0.0, rng.uniform(0, 4e9)]))  # shared packs' work too
        wait = (0.0, 0)
        if rng.integers(2):
            wait = queue_wait(int(rng.integers(1, 600)), rng.uniform(1e5, 3e7), programs)
        settings = (overhead, partial, programs, heads)
        k = private_chunk(
            candidates, items, partials, tiles, members, first, max_len, token, work, *wait,
            *settings,
        )  # fmt: skip
        chunk = candidates[k]
        best_chunk, best = 0, float("inf")
        for k in range(first, candidates.shape[0]):
            spread = chunk_spread(
                overhead, items[k] - tiles, partials[k] - members, partial, work, programs,
                heads, True,
            )  # fmt: skip
            value = chunk_cost(
                spread, candidates[k], max_len, token, overhead, programs, True, items[k] * heads,
                *wait,
            )  # fmt: skip
            if value <= best:
                best_chunk, best = candidates[k], value
            if candidates[k] >= max_len:
                break
        assert chunk == best_chunk


def test_forced_chunks_are_taken_and_must_be_candidates() -> None:
    """``ChunkRule.forced`` (for ``benchmarks/profile_pat.py``) fixes a config's chunk as a
    shared class and as a private-only class apart; a length that is not a candidate is a
    ValueError, not a silently different plan."""
    forest = PrefixForest.from_tree_spec("1,64_4096,512")
    planner = PackScheduler(num_kv_heads=8, group_size=4, head_dim=128, num_sms=132)
    pool = np.arange(forest.num_requests)
    chosen = planner.plan(forest, pool)
    shared_config = int(chosen.items[0, 5])
    planner._rule.forced[shared_config, 0] = 512
    plan = planner.plan_cold(forest, pool)
    shared = plan.items[: plan.num_shared_items]
    assert set(shared[:, 1].tolist()) == {512}
    tails = plan.items[plan.num_shared_items :]
    assert np.array_equal(tails, chosen.items[chosen.num_shared_items :])  # private: chosen
    planner._rule.forced[shared_config, 0] = 0
    private_config = int(tails[0, 5])
    planner._rule.forced[private_config, 1] = 256
    plan = planner.plan_cold(forest, pool)
    assert set(plan.items[plan.num_shared_items :, 1].tolist()) == {256}
    planner._rule.forced[private_config, 1] = 300
    with pytest.raises(ValueError, match="candidates"):
        planner.plan_cold(forest, pool)


def test_compiled_planner_parts_compile_once() -> None:
    """Plans call the compiled pack decisions, ``emit_rows``, chunk counts and choice and tail
    growth with the same argument types whatever their input's dtypes, so numba builds one
    specialisation of each: another would compile for seconds inside a served decode step."""
    rng = np.random.default_rng(3)
    for spec in ("1,8_64,16", "4_33", "1,2,4_16,8,5"):
        forest = PrefixForest.from_tree_spec(spec)
        lens = forest.seq_lens.astype(np.int32)
        pool = np.arange(forest.num_requests, dtype=np.int32)
        for shape in SHAPES:
            planner = scheduler(shape)
            planner.plan(forest.with_seq_lens(lens), pool)
            planner.plan(forest.with_seq_lens(lens + 1), pool)
            assert planner.last_plan_was_lazy
            planner.plan(PrefixForest.no_sharing(lens), rng.permutation(forest.num_requests))
    for module, name in COMPILED_PARTS:
        compiled = getattr(importlib.import_module(module), name)
        assert len(compiled.signatures) == 1, (compiled, compiled.signatures)


def test_warm_up_reaches_every_compiled_part() -> None:
    """``warm_compiled_planner`` (which the SGLang backend calls before serving) runs each
    compiled entry point of the planner, so none is first compiled or loaded inside a served
    step. In a fresh process: this one has run them all already."""
    code = (
        "from sglang_pat.warm_planner import warm_compiled_planner\n"
        "import importlib\n"
        f"parts = [getattr(importlib.import_module(m), f) for m, f in {COMPILED_PARTS!r}]\n"
        "assert not any(part.signatures for part in parts)\n"
        "warm_compiled_planner()\n"
        "print([len(part.signatures) for part in parts])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str([1] * len(COMPILED_PARTS))
