"""PatAttnBackend routing on the CPU, with fake kernels: decode through the pack plan, every
other batch, layer and failure through SGLang's triton backend."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

triton_backend = pytest.importorskip("sglang.srt.layers.attention.triton_backend")
pytest.importorskip("sglang.srt.mem_cache.radix_cache")
backend_module = pytest.importorskip("sglang_pat.backend")
options = pytest.importorskip("sglang_pat.backend_options")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from sglang.srt.layers.quantization.fp4_kv_cache_quant_method import (  # noqa: E402
    UnquantizedKVCacheMethod,
)
from sglang.srt.mem_cache.memory_pool import MHATokenToKVPool  # noqa: E402
from workloads import radix_cache_holding  # noqa: E402

from sglang_pat.graph_switch import GraphSwitches  # noqa: E402
from sglang_pat.plan import PlanCapacityError  # noqa: E402

NUM_HEADS, NUM_KV_HEADS, HEAD_DIM = 4, 2, 64


class FakeDecoder:
    """Records what the backend asks of PatDecoder; 'attention' writes a marker."""

    SM90_REASON: str | None = "fake GPU"  # why the sm90 part cannot run (None: it can)

    def __init__(self, **kwargs) -> None:
        self.menu = kwargs["menu"]
        self.scheduler = SimpleNamespace(fine_private_chunks=False)  # the backend's env knob
        self.sm90_shared = kwargs["sm90_shared"]  # as asked; the real one also checks the GPU
        self.sm90_shared_reason = self.SM90_REASON if self.sm90_shared else None
        self.stores_new_kv = kwargs["stores_new_kv"]
        self.new_kv: list[tuple | None] = []
        self.graph_switches = GraphSwitches()
        self.plans: list[tuple] = []
        self.graph_batches: list[int | None] = []
        self.forwards: list[float] = []
        self.fail_next_plan = False

    def plan_step(self, forest, pool_rows, req_to_token, *, for_graph=False, graph_batch=None):
        if self.fail_next_plan:
            self.fail_next_plan = False
            raise PlanCapacityError("too many partials")
        self.plans.append((forest, np.asarray(pool_rows).tolist(), for_graph))
        self.graph_batches.append(graph_batch)
        self.planned_rows = len(forest.seq_lens)

    def forward(self, q, k_buffer, v_buffer, o, *, sm_scale, logit_cap=0.0, new_kv=None):
        self.forwards.append(sm_scale)
        self.new_kv.append(new_kv)
        o[: self.planned_rows].fill_(7.0)  # rows past the plan (graph padding) stay as they are
        return o


class Mode:
    def __init__(self, name: str) -> None:
        self.name = name

    def is_decode(self) -> bool:
        return self.name == "DECODE"

    def is_idle(self) -> bool:
        return self.name == "IDLE"

    def is_mixed(self) -> bool:
        return False


@pytest.fixture
def backend(monkeypatch):
    calls: list[str] = []

    def fake_triton_init(self, model_runner, skip_prefill=False, kv_indptr_buf=None):
        self.use_mla, self.sliding_window_size, self.dcp_size = False, None, 1
        self.num_head, self.num_kv_head, self.v_head_dim = NUM_HEADS, NUM_KV_HEADS, HEAD_DIM
        self.device = torch.device("cpu")
        self._translate_kv_loc, self.use_sliding_window_kv_pool = None, False
        self.req_to_token = model_runner.req_to_token_pool.req_to_token
        self.token_to_kv_pool = SimpleNamespace(
            get_key_buffer=lambda layer_id: "K", get_value_buffer=lambda layer_id: "V"
        )
        self.forward_metadata = SimpleNamespace(
            swa_out_cache_loc=None, out_cache_loc_full_physical=None
        )

    T = triton_backend.TritonAttnBackend
    monkeypatch.setattr(T, "__init__", fake_triton_init)
    monkeypatch.setattr(T, "init_forward_metadata", lambda self, fb: calls.append("triton-meta"))
    monkeypatch.setattr(
        T,
        "init_forward_metadata_out_graph",
        lambda self, fb, in_capture=False: calls.append("triton-meta-graph"),
    )

    def fake_triton_decode(self, q, k, v, layer, fb, save_kv_cache=True, *args, **kwargs):
        calls.append("triton-decode" if save_kv_cache else "triton-decode-no-write")
        return torch.full((q.shape[0], NUM_HEADS * HEAD_DIM), self.triton_value, dtype=q.dtype)

    monkeypatch.setattr(T, "forward_decode", fake_triton_decode)
    monkeypatch.setattr(T, "forward_extend", lambda self, *a, **k: calls.append("triton-extend"))
    monkeypatch.setattr(backend_module, "PatDecoder", FakeDecoder)
    runner = SimpleNamespace(
        req_to_token_pool=SimpleNamespace(
            size=8, req_to_token=torch.zeros(8, 64, dtype=torch.int32)
        ),
        model_config=SimpleNamespace(is_encoder_decoder=False, head_dim=HEAD_DIM),
        kv_cache_dtype=torch.float16,
        server_args=SimpleNamespace(
            speculative_algorithm=None, get_attention_backends=lambda: ("triton", "pat")
        ),
        dtype=torch.float16,
    )
    pat = backend_module.PatAttnBackend(runner)
    pat._set_kv_buffer = lambda *args: calls.append("write-kv")
    pat.calls = calls
    pat.triton_value = 7.0
    pat.runner = runner
    return pat


def radix_batch(prompts: list[list[int]]) -> SimpleNamespace:
    """A decode ScheduleBatch stand-in whose requests sit in a real RadixCache."""
    cache, last_nodes = radix_cache_holding(prompts)
    reqs = [SimpleNamespace(rid=f"r{i}", last_node=node) for i, node in enumerate(last_nodes)]
    seq_lens = torch.tensor([len(p) + 1 for p in prompts])
    return SimpleNamespace(
        reqs=reqs,
        tree_cache=cache,
        seq_lens_cpu=seq_lens,
        req_pool_indices_cpu=torch.arange(len(prompts)) + 3,
    )


def forward_batch(mode: str, batch: SimpleNamespace) -> SimpleNamespace:
    size = len(batch.reqs)
    return SimpleNamespace(
        forward_mode=Mode(mode),
        spec_info=None,
        rids=[r.rid for r in batch.reqs],
        batch_size=size,
        seq_lens_cpu=batch.seq_lens_cpu,
        req_pool_indices=batch.req_pool_indices_cpu,
        out_cache_loc=torch.arange(size),
    )


def layer(**overrides) -> SimpleNamespace:
    fields = dict(
        layer_id=0,
        tp_q_head_num=NUM_HEADS,
        qk_head_dim=HEAD_DIM,
        v_head_dim=HEAD_DIM,
        scaling=0.125,
        logit_capping_method="tanh",
        logit_cap=0.0,
        xai_temperature_len=-1,
        sliding_window_size=-1,
        k_scale=None,
        v_scale=None,
    )
    return SimpleNamespace(**{**fields, **overrides})


def qkv(size: int) -> tuple[torch.Tensor, ...]:
    q = torch.zeros(size, NUM_HEADS * HEAD_DIM, dtype=torch.float16)
    kv = torch.zeros(size, NUM_KV_HEADS * HEAD_DIM, dtype=torch.float16)
    return q, kv, kv


SHARED = list(range(1, 40))
PROMPTS = [SHARED + [100 + i, 200 + i] for i in range(3)] + [[900, 901, 902]]


def test_decode_goes_through_the_pack_plan(backend) -> None:
    batch = radix_batch(PROMPTS)
    backend.stage_batch(batch)
    fb = forward_batch("DECODE", batch)
    backend.init_forward_metadata(fb)
    ((forest, pool_rows, for_graph),) = backend.decoder.plans
    assert forest.num_nodes == 1 and forest.req_node.tolist() == [0, 0, 0, -1]
    assert pool_rows == [3, 4, 5, 6] and not for_graph
    out = backend.forward(*qkv(4), layer(), fb)
    assert backend.calls == ["triton-meta", "write-kv"]
    assert backend.decoder.forwards == [0.125]
    assert out.shape == (4, NUM_HEADS * HEAD_DIM) and bool((out == 7).all())


def test_graph_steps_name_the_graphs_batch_size(backend) -> None:
    """Before a graph replay the batch is padded up to the graph's size (SGLang's replay view
    has that ``batch_size``): the plan covers the staged requests, and the decoder is told the
    graph's size, which decides whether the graph has the lean kernel's private launch."""
    batch = radix_batch(PROMPTS)
    backend.stage_batch(batch)
    padded = forward_batch("DECODE", batch)
    padded.batch_size = 8
    backend.init_forward_metadata_out_graph(padded)
    ((forest, pool_rows, for_graph),) = backend.decoder.plans
    assert for_graph and forest.num_requests == 4 and pool_rows == [3, 4, 5, 6]
    assert backend.decoder.graph_batches == [8]
    assert backend.calls == []  # a replay of a pat-decoded graph: no triton metadata


def graph_step(backend, batch, *, in_capture: bool, layers: tuple | None = None) -> None:
    """One decode step of a graph: the metadata hook (capture or replay), then its layers
    (default: one that pat decodes)."""
    backend.stage_batch(batch)
    fb = forward_batch("DECODE", batch)
    backend.init_forward_metadata_out_graph(fb, in_capture=in_capture)
    for each in layers or (layer(),):
        backend.forward(*qkv(len(batch.reqs)), each, fb)


def test_replays_skip_triton_metadata_only_where_no_layer_reads_it(backend) -> None:
    """A capture always fills triton's decode metadata; a replay skips it while every captured
    layer decoded through pat, and fills it again once a layer of a pat step went to triton
    (that layer's graph nodes read it)."""
    batch = radix_batch(PROMPTS)
    graph_step(backend, batch, in_capture=True)
    graph_step(backend, batch, in_capture=False)
    assert backend.calls == ["triton-meta-graph", "write-kv", "write-kv"]
    assert len(backend.decoder.plans) == 2 and backend.decoder.forwards == [0.125] * 2
    backend.calls.clear()
    graph_step(backend, batch, in_capture=True, layers=(layer(), layer(sliding_window_size=64)))
    graph_step(backend, batch, in_capture=False)
    assert backend.calls == [
        "triton-meta-graph", "write-kv", "triton-decode", "triton-meta-graph", "write-kv"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "setting",
    ["verify", "spec", "unified pool", "sliding-window pool", "unsupported", "idle"],
)
def test_replays_fill_triton_metadata_where_it_may_be_read(backend, setting) -> None:
    """Verification (triton decodes beside pat in the graph), speculative and idle batches,
    models pat does not decode, and KV pools whose write locations triton's hook translates
    keep triton's metadata on every replay."""
    batch = radix_batch(PROMPTS)
    backend.stage_batch(batch)
    fb = forward_batch("DECODE", batch)
    if setting == "verify":
        backend._verify = True
    elif setting == "spec":
        fb.spec_info = object()
    elif setting == "unified pool":
        backend._translate_kv_loc = lambda loc: loc
    elif setting == "sliding-window pool":
        backend.use_sliding_window_kv_pool = True
    elif setting == "unsupported":
        backend.decoder = None
    else:
        fb.forward_mode = Mode("IDLE")
    backend.init_forward_metadata_out_graph(fb)
    assert backend.calls == ["triton-meta-graph"]


def test_extend_and_idle_go_to_triton(backend) -> None:
    batch = radix_batch(PROMPTS)
    fb = forward_batch("EXTEND", batch)
    backend.init_forward_metadata(fb)
    backend.forward(*qkv(4), layer(), fb)
    assert backend.calls == ["triton-meta", "triton-extend"]
    assert backend.decoder.plans == [] and backend.decoder.forwards == []
    idle = backend.forward(*qkv(0), layer(), forward_batch("IDLE", radix_batch([])))
    assert idle.shape == (0, NUM_HEADS * HEAD_DIM) and backend.decoder.forwards == []


def test_unstaged_decode_reads_privately(backend) -> None:
    batch = radix_batch(PROMPTS)
    backend.init_forward_metadata(forward_batch("DECODE", batch))  # nothing staged
    ((forest, pool_rows, _),) = backend.decoder.plans
    assert forest.num_nodes == 0 and forest.seq_lens.tolist() == [42, 42, 42, 4]
    other = radix_batch(PROMPTS[:2])
    backend.stage_batch(other)  # staged for another batch: not used
    backend.init_forward_metadata(forward_batch("DECODE", batch))
    assert backend.decoder.plans[1][0].num_nodes == 0


@pytest.mark.parametrize("overrides", [dict(sliding_window_size=128), dict(xai_temperature_len=16)])
def test_layers_pat_does_not_cover_go_to_triton(backend, overrides) -> None:
    batch = radix_batch(PROMPTS)
    backend.stage_batch(batch)
    fb = forward_batch("DECODE", batch)
    backend.init_forward_metadata(fb)
    backend.forward(*qkv(4), layer(**overrides), fb)
    assert backend.calls == ["triton-meta", "triton-decode"] and backend.decoder.forwards == []


def test_plan_over_capacity_falls_back_to_triton(backend) -> None:
    batch = radix_batch(PROMPTS)
    backend.stage_batch(batch)
    fb = forward_batch("DECODE", batch)
    backend.decoder.fail_next_plan = True
    backend.init_forward_metadata(fb)
    backend.forward(*qkv(4), layer(), fb)
    assert backend.calls == ["triton-meta", "triton-decode"]


def test_unsupported_model_decodes_with_triton(backend, monkeypatch) -> None:
    runner = SimpleNamespace(
        req_to_token_pool=SimpleNamespace(
            size=8, req_to_token=torch.zeros(8, 64, dtype=torch.int32)
        ),
        model_config=SimpleNamespace(is_encoder_decoder=False, head_dim=96),
        kv_cache_dtype=torch.float16,
        server_args=SimpleNamespace(
            speculative_algorithm=None, get_attention_backends=lambda: ("triton", "pat")
        ),
        dtype=torch.float16,
    )
    pat = backend_module.PatAttnBackend(runner)
    assert pat.decoder is None and "head_dim 96" in pat.unsupported
    pat.stage_batch(radix_batch(PROMPTS))
    assert pat._staged is None


def test_verification_mode_compares_every_layer_with_triton(backend, caplog) -> None:
    backend._verify = True
    backend._out.fill_(float("nan"))  # what PAT leaves in padding rows is never compared
    batch = radix_batch(PROMPTS)
    fb = forward_batch("DECODE", batch)
    backend.init_forward_metadata(fb)  # unstaged (warmup-like): not counted
    backend.forward(*qkv(4), layer(), fb)
    for value in (7.0, 6.5):  # triton agrees, then differs by 0.5
        backend.stage_batch(batch)
        backend.init_forward_metadata(fb)
        backend.triton_value = value
        out = backend.forward(*qkv(5), layer(), fb)  # 4 requests + 1 padding row, as in a graph
        assert bool((out[:4] == 7).all()), "outputs stay PAT's"
    with caplog.at_level("INFO", logger="sglang_pat"):
        backend.stage_batch(batch)
        backend.init_forward_metadata(fb)
    assert "2 decode steps, max |pat - triton| 0.5, max |triton| 7, " in caplog.text
    assert "max |pat - triton| / (1 + |triton|) 0.0667" in caplog.text
    assert backend.calls.count("triton-decode-no-write") == 3


def set_env(monkeypatch: pytest.MonkeyPatch, name: str, value: str | None) -> None:
    """``name`` set to ``value``, or unset for None."""
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)


def built_backend(backend, caplog, refused: str | None = None):
    """The backend, built with its warnings in ``caplog``; or, with ``refused`` (a variable's
    name), None once building it is refused by a ValueError that names the variable."""
    if refused is not None:
        with pytest.raises(ValueError, match=refused):
            backend_module.PatAttnBackend(backend.runner)
        return None
    with caplog.at_level("WARNING", logger=backend_module.logger.name):
        return backend_module.PatAttnBackend(backend.runner)


@pytest.mark.parametrize("value, wanted", [(None, True), ("0", False), ("1", True), ("yes", None)])
def test_lean_kernel_env(value, wanted, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's lean kernel is on by default: "1" or unset on, "0" off, anything else
    refused."""
    set_env(monkeypatch, options.LEAN_ENV, value)
    if wanted is None:
        with pytest.raises(ValueError, match=options.LEAN_ENV):
            options.lean_kernel_wanted()
    else:
        assert options.lean_kernel_wanted() is wanted


@pytest.mark.parametrize(
    "lean, switch, switchable",
    [("1", None, True), ("1", "0", False), ("0", None, False), ("0", "1", False)],
)
def test_lean_graphs_are_switchable_unless_turned_off(
    lean, switch, switchable, backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the lean kernel on, SGLang's captures take both forms of each of the backend's
    layers, by default in a graph each (graph_switch.py); ``SGLANG_PAT_GRAPH_SWITCH=0`` keeps
    the pair alone."""
    from sglang_pat import graph_switch

    monkeypatch.setenv(options.LEAN_ENV, lean)
    set_env(monkeypatch, options.SWITCH_ENV, switch)
    pat = backend_module.PatAttnBackend(backend.runner)
    assert (pat.decoder in graph_switch._per_form) is switchable
    monkeypatch.setenv(options.SWITCH_ENV, "yes")
    if lean == "1":
        with pytest.raises(ValueError, match=options.SWITCH_ENV):
            backend_module.PatAttnBackend(backend.runner)


@pytest.mark.parametrize(
    "switch, forms, per_form",
    [(None, None, True), (None, "0", True), (None, "1", True), ("0", "1", False)],
)
def test_retired_graph_forms_env_is_warned_about(
    switch, forms, per_form, backend, monkeypatch, caplog
) -> None:
    """``SGLANG_PAT_GRAPH_FORMS`` chose the node switch ("0") until session 82 retired it: set
    to anything, it changes nothing and the backend says so, naming the switch's own
    variable; unset, nothing is said."""
    from sglang_pat import graph_switch

    set_env(monkeypatch, options.SWITCH_ENV, switch)
    set_env(monkeypatch, options.RETIRED_FORMS_ENV, forms)
    pat = built_backend(backend, caplog)
    assert (pat.decoder in graph_switch._per_form) is per_form
    warned = f"{options.RETIRED_FORMS_ENV} is no longer read" in caplog.text
    assert warned is (forms is not None)
    assert not warned or f"{options.SWITCH_ENV}=0 turns it off" in caplog.text


@pytest.mark.parametrize("prefill, warmed", [("flashinfer", True), ("triton", False)])
def test_flashinfer_prefill_merge_warmed_at_start(
    prefill, warmed, backend, monkeypatch, caplog
) -> None:
    """Where FlashInfer prefills beside pat, the backend builds its merge_state module before
    serving (warm_prefill.py), and says so; elsewhere it leaves FlashInfer alone."""
    asked = []

    def fake_warm(name):
        asked.append(name)
        return 0.25 if name == "flashinfer" else None

    monkeypatch.setattr(backend_module, "warm_flashinfer_merge", fake_warm)
    runner = SimpleNamespace(**vars(backend.runner))
    runner.server_args = SimpleNamespace(
        speculative_algorithm=None, get_attention_backends=lambda: (prefill, "pat")
    )
    with caplog.at_level("INFO", logger=backend_module.logger.name):
        backend_module.PatAttnBackend(runner)
    assert asked == [prefill]
    assert ("merge_state module ready in 0.25 s" in caplog.text) is warmed


@pytest.mark.parametrize("value, wanted", [(None, False), ("0", False), ("1", True), ("on", None)])
def test_sm90_shared_env(value, wanted, backend, monkeypatch, caplog) -> None:
    """``SGLANG_PAT_SM90_SHARED=1`` asks the decoder for the sm90 shared part (off by
    default); where the decoder cannot run it, the server says why; anything but 0 or 1 is
    refused."""
    set_env(monkeypatch, options.SM90_ENV, value)
    pat = built_backend(backend, caplog, refused=options.SM90_ENV if wanted is None else None)
    if pat is None:
        return
    assert pat.decoder.sm90_shared is wanted
    assert ("fake GPU" in caplog.text) is wanted


@pytest.mark.parametrize("switch", ["1", "0"])
def test_sm90_without_the_switch_is_said(switch, backend, monkeypatch, caplog) -> None:
    """With the sm90 shared part the pair splits every plan, so a graph without the switch
    runs kept-whole plans split too (slower, never wrong): the server says so."""
    monkeypatch.setenv(options.SM90_ENV, "1")
    monkeypatch.setenv(options.SWITCH_ENV, switch)
    monkeypatch.setattr(FakeDecoder, "SM90_REASON", None)  # as on an sm90 GPU
    pat = built_backend(backend, caplog)
    assert pat.decoder.sm90_shared
    assert ("a graph runs every plan split" in caplog.text) is (switch == "0")


@pytest.mark.parametrize("value, fine", [(None, True), ("0", False), ("1", True), ("on", None)])
def test_fine_chunks_env(value, fine, backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """``SGLANG_PAT_FINE_CHUNKS=0`` turns the planner's fine private chunks off (on by
    default since session 41); anything but 0 or 1 is refused."""
    set_env(monkeypatch, options.FINE_ENV, value)
    if fine is None:
        with pytest.raises(ValueError, match=options.FINE_ENV):
            backend_module.PatAttnBackend(backend.runner)
    else:
        pat = backend_module.PatAttnBackend(backend.runner)
        assert pat.decoder.scheduler.fine_private_chunks is fine


def kv_pool(**overrides) -> MHATokenToKVPool:
    """SGLang's plain MHA pool (bf16, NHD) without buffers; ``overrides`` set its fields."""
    pool = object.__new__(MHATokenToKVPool)
    fields = dict(
        quant_method=UnquantizedKVCacheMethod(),
        dtype=torch.float16,
        store_dtype=torch.float16,
        kv_cache_layout="nhd",
        get_key_buffer=lambda layer_id: "K",
        get_value_buffer=lambda layer_id: "V",
    )
    for name, value in {**fields, **overrides}.items():
        setattr(pool, name, value)
    return pool


def backend_on(backend, pool: MHATokenToKVPool, monkeypatch: pytest.MonkeyPatch):
    """A backend like the fixture's over ``pool``."""
    init = triton_backend.TritonAttnBackend.__init__

    def with_pool(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.token_to_kv_pool = pool

    monkeypatch.setattr(triton_backend.TritonAttnBackend, "__init__", with_pool)
    pat = backend_module.PatAttnBackend(backend.runner)
    pat._set_kv_buffer = lambda *args: backend.calls.append("write-kv")
    return pat


@pytest.mark.parametrize("sm90", ["0", "1"])
def test_the_kernels_store_the_new_kv_on_a_plain_pool(sm90, backend, monkeypatch) -> None:
    """On SGLang's plain MHA pool the decoder gets the layer's new K/V and their slots, and
    SGLang's store does not run, with the sm90 shared part asked for too (the private part
    stores)."""
    monkeypatch.setenv(options.SM90_ENV, sm90)
    pat = backend_on(backend, kv_pool(), monkeypatch)
    assert pat.store_reason is None and pat.decoder.stores_new_kv
    batch = radix_batch(PROMPTS)
    pat.stage_batch(batch)
    fb = forward_batch("DECODE", batch)
    pat.init_forward_metadata(fb)
    q, k, v = qkv(4)
    k, v = k.view(4, NUM_KV_HEADS, HEAD_DIM), v.view(4, NUM_KV_HEADS, HEAD_DIM)
    pat.forward(q, k, v, layer(), fb)
    ((k_new, v_new, new_loc),) = pat.decoder.new_kv
    assert k_new is k and v_new is v and new_loc is fb.out_cache_loc
    assert "write-kv" not in backend.calls
    pat.forward(q, k, v, layer(), fb, save_kv_cache=False)
    assert pat.decoder.new_kv[1] is None and "write-kv" not in backend.calls


@pytest.mark.parametrize(
    "env, overrides, reason",
    [
        ({options.STORE_ENV: "0"}, {}, "STORE_IN_KERNEL=0"),
        ({}, {"store_dtype": torch.uint8}, "quantized"),
        ({}, {"kv_cache_layout": "hnd"}, "layout hnd"),
        ({}, {"dtype": torch.bfloat16, "store_dtype": torch.bfloat16}, "model dtype"),
    ],
    ids=["env-off", "quantized", "hnd", "cast"],
)
def test_sglang_stores_where_the_kernels_cannot(
    env, overrides, reason, backend, monkeypatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pat = backend_on(backend, kv_pool(**overrides), monkeypatch)
    assert reason in pat.store_reason and not pat.decoder.stores_new_kv
    batch = radix_batch(PROMPTS)
    pat.stage_batch(batch)
    fb = forward_batch("DECODE", batch)
    pat.init_forward_metadata(fb)
    pat.forward(*qkv(4), layer(), fb)
    assert pat.decoder.new_kv == [None] and "write-kv" in backend.calls


def test_other_pools_are_stored_by_sglang(backend) -> None:
    """The fixture's pool is no MHATokenToKVPool: SGLang's store runs (as every test above)."""
    assert "KV pool" in backend.store_reason and not backend.decoder.stores_new_kv
