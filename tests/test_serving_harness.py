"""The serving benchmark's guards: the Mooncake replay sends only requests that fit the model,
and a run in which the server refused requests is marked failed (CPU only)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from sglang_pat.model_dirs import make_model_dir

transformers = pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
mooncake_replay = pytest.importorskip("mooncake_replay")
bench_serving = pytest.importorskip("bench_serving")
serving_results = pytest.importorskip("serving_results")
serving_workloads = pytest.importorskip("serving_workloads")
recount_decode = pytest.importorskip("recount_decode")
MooncakeDataset = mooncake_replay.MooncakeDataset


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = make_model_dir(tmp_path_factory.mktemp("model") / "llama")
    return transformers.AutoTokenizer.from_pretrained(str(path))


def record(blocks: int, output: int, first_hash: int = 0, timestamp: int = 0) -> dict:
    hash_ids = list(range(first_hash, first_hash + blocks))
    return dict(timestamp=timestamp, input_length=512 * blocks, output_length=output,
                hash_ids=hash_ids)  # fmt: skip


def test_replay_keeps_the_first_records_that_fit(tokenizer) -> None:
    context = tokenizer.model_max_length
    assert context == 8192  # the dummy Llama-3-8B's
    # about 260 tokens a block: 40 blocks never fit; 20 blocks fit, but not with 4000 out;
    # 3 blocks fit and so does bench_serving's warmup prompt for them (4x the text)
    records = [
        record(20, 100, 0, 0),  # fits, its warmup (about 20k tokens) does not
        record(40, 10, 100, 1),
        record(20, 4000, 200, 2),
        record(3, 50, 300, 3),
        record(1, 10, 400, 4),
        record(2, 10, 500, 5),
    ]
    kept, skipped = mooncake_replay.fitting_records(records, tokenizer, 3)
    assert skipped == 2
    assert [r["hash_ids"][0] for r in kept] == [300, 0, 400]  # the warmup-safe one first
    for r in kept:
        assert r.prompt_len == len(tokenizer.encode(mooncake_replay.round_one_prompt(r, tokenizer)))
        assert r.prompt_len + r["output_length"] < context
    assert mooncake_replay.warmup_prompt_len(kept[0], tokenizer) + 32 < context
    with pytest.raises(ValueError, match="warmup"):
        mooncake_replay.fitting_records(records[:1], tokenizer, 3)


def test_replay_keeps_everything_without_a_stated_context(tokenizer) -> None:
    records = [record(40, 10, 0, 0), record(1, 10, 100, 1)]
    unlimited = tokenizer.__class__.from_pretrained(
        tokenizer.name_or_path, model_max_length=int(1e30)
    )
    kept, skipped = mooncake_replay.fitting_records(records, unlimited, 5)
    assert (skipped, [r["hash_ids"][0] for r in kept]) == (0, [0, 100])


def test_server_errors_are_found_in_the_log() -> None:
    log = (
        "[2026-11-30 16:12:34] Decode batch, #running-req: 3, gen throughput (token/s): 1.0\n"
        "[2026-11-30 16:12:35] [http_server] Error: The input (14392 tokens) is longer than "
        "the model's context length (8192 tokens).\n"
        "[2026-11-30 16:12:36] [http_server] Error: The input (11933 tokens) is longer than "
        "the model's context length (8192 tokens).\n"
    )
    errors = serving_results.server_errors(log)
    assert len(errors) == 2 and errors[0].startswith("The input (14392 tokens)")
    assert serving_results.server_errors("Decode batch, #running-req: 3\n") == []


def test_decode_throughput_is_the_median_at_full_batch() -> None:
    """The headline figure: the median of the server's gen throughput lines at ≥ 95% of the
    workload's batch, the first of them dropped (its interval still holds prefills); with no
    batch (the Mooncake replays), every decode line of more than one request."""

    def line(running: int, tok_s: float) -> str:
        return (
            f"[2026-12-01 10:00:00] Decode batch, #running-req: {running}, #token: 9, "
            f"token usage: 0.10, cuda graph: True, gen throughput (token/s): {tok_s:.2f}, "
            "#queue-req: 0\n"
        )

    log = "".join(
        [line(40, 1.0), line(122, 50.0), line(128, 9000.0), line(127, 12000.0)]
        + [line(126, 13000.0), line(100, 2.0), line(1, 3.0)]
    )
    # 122 ≥ 0.95 × 128 is the first full-batch line, dropped; 40 and 100 are below the batch
    assert serving_results.decode_throughput(log, 128) == (12000.0, 3)
    # all but the one-request line: 1, 2, 50, 9000, 12000, 13000
    assert serving_results.decode_throughput(log, 0) == (4525.0, 6)
    assert serving_results.decode_throughput(log, 256) == (None, 0)
    assert serving_results.decode_throughput("Prefill batch, #new-seq: 4\n", 128) == (None, 0)


def test_decode_throughput_drops_the_first_full_batch_line_of_every_pass() -> None:
    """With ``--passes 2`` the server log holds two batches, each opened by bench_serving's
    cache flush; the second batch's first interval holds its prefills as the first's does."""

    def line(running: int, tok_s: float) -> str:
        return (
            f"[2026-12-02 16:24:13] Decode batch, #running-req: {running}, #token: 9, "
            f"token usage: 0.05, cuda graph: True, gen throughput (token/s): {tok_s:.2f}, "
            "#queue-req: 0\n"
        )

    flushed = "[2026-12-02 16:24:10] Cache flushed successfully!\n"
    one_pass = [line(1, 60.0), flushed, line(128, 1500.0), line(128, 17000.0), line(128, 16000.0)]
    second = [line(1, 67.0), flushed, line(128, 1400.0), line(128, 16800.0), line(128, 16400.0)]
    log = "".join(one_pass + second)
    # 1500 and 1400 open their passes and are dropped: 16000, 16400, 16800, 17000
    assert serving_results.decode_throughput(log, 128) == (16600.0, 4)
    # the Mooncake replays keep every decode line of more than one request, in every pass
    assert serving_results.decode_throughput(log, 0) == (16200.0, 6)


def test_missing_output_is_found_in_the_result() -> None:
    # the session 8 Mooncake conversation result, and a random-ids one (retokenizing random
    # ids' text loses a few tokens)
    refused = dict(total_output_tokens=36758, total_output_tokens_retokenized=22068)
    assert "22068 of the 36758" in serving_results.missing_output(refused)
    complete = dict(total_output_tokens=65536, total_output_tokens_retokenized=65408)
    assert serving_results.missing_output(complete) is None


def test_faithful_blocks_are_512_tokens_and_replayed_in_trace_order(tmp_path, capsys) -> None:
    """--pat-block-tokens 512 (the -512 workloads): blocks of the trace's length, loaded and
    sent by our copy of bench_serving's generator with the prompt lengths the records carry;
    bench_serving reads the replay's skip count from its message."""
    path = make_model_dir(tmp_path / "llama31", "llama-3.1-8b")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    assert tokenizer.model_max_length == 131072
    replay = mooncake_replay.Replay(block_tokens=512)
    words = replay.words(tokenizer)
    one_block = mooncake_replay.blocks_text({"hash_ids": [987654]}, words)
    assert abs(len(tokenizer.encode(one_block, add_special_tokens=False)) - 512) <= 8
    # the trace's longest prompt (236 blocks) fits the 131,072-token context
    records = [record(236, 900, 0, 2000), record(3, 50, 1000, 0), record(5, 20, 2000, 1000)]
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(json.dumps(r) + "\n" for r in records))
    dataset = MooncakeDataset(str(trace), "conversation", 3)
    with pytest.raises(FileNotFoundError, match="no trace"):  # never SGLang's download
        replay.load(MooncakeDataset(str(tmp_path / "gone.jsonl"), "conversation", 3), tokenizer)
    kept = replay.load(dataset, tokenizer)
    skipped = serving_results.REPLAY_SKIPPED.search(capsys.readouterr().out)
    assert skipped and skipped.group(1) == "0" and len(kept) == 3
    assert max(r.prompt_len for r in kept) > 100_000

    async def replayed():
        rows = replay.requests(kept, tokenizer, slowdown_factor=0.0, num_rounds=1)
        return [row async for row in rows]

    rows = asyncio.run(replayed())
    assert [r.output_len for r in rows] == [50, 20, 900]  # by timestamp
    for row, rec in zip(rows, kept):  # kept is sorted in place, as bench_serving's list
        assert row.prompt == mooncake_replay.round_one_prompt(rec, tokenizer, words)
        assert row.prompt_len == rec.prompt_len == len(tokenizer.encode(row.prompt))


def test_long_context_workloads_need_the_long_context_model(tmp_path) -> None:
    """The -512 replays are not in the default run, and SGLang reads the llama-3.1-8b dummy's
    context as the 131,072 tokens they need."""
    faithful = [n for n, w in serving_workloads.WORKLOADS.items() if w.min_context]
    assert faithful and not set(faithful) & set(serving_workloads.DEFAULT_WORKLOADS)
    model_config = pytest.importorskip("sglang.srt.configs.model_config")
    path = make_model_dir(tmp_path / "llama31", "llama-3.1-8b")
    context = model_config.ModelConfig(model_path=str(path)).context_len
    assert context == 131072 >= max(serving_workloads.WORKLOADS[n].min_context for n in faithful)


def flag_value(args: tuple[str, ...], flag: str) -> int:
    """The integer after ``flag`` in a workload's bench_serving arguments."""
    return int(args[args.index(flag) + 1])


def test_small_batch_workloads_hold_their_batch_and_run_only_when_named() -> None:
    """random-ids-{n}x3000: n requests of 3,000 + 512 tokens decode together (two waves of
    n), within the default dummy model's 8,192-token context; never in the default run."""
    workloads = serving_workloads.WORKLOADS

    named_only = {name for name, w in workloads.items() if not w.in_default_run}
    assert named_only == {f"random-ids-{n}x3000" for n in (1, 2, 3, 4, 8)}
    assert not named_only & set(serving_workloads.DEFAULT_WORKLOADS)
    for n in (1, 2, 3, 4, 8):
        workload = workloads[f"random-ids-{n}x3000"]
        assert workload.batch == flag_value(workload.args, "--max-concurrency") == n
        assert flag_value(workload.args, "--num-prompts") == 2 * n
        tokens = flag_value(workload.args, "--random-input-len") + flag_value(
            workload.args, "--random-output-len"
        )
        assert tokens <= 8192 and "--random-range-ratio" in workload.args


def test_warm_pass_sends_fewer_prompts_and_max_itl_is_read() -> None:
    counts = ("--num-prompts", "--gsp-num-groups", "--gsp-prompts-per-group")
    for name, workload in serving_workloads.WORKLOADS.items():
        warm = workload.warm_args
        asked = flag_value(workload.args, "--num-prompts")
        if "--gsp-num-groups" in warm:  # gsp sends groups x prompts per group, whatever asked
            per_group = flag_value(workload.args, "--gsp-prompts-per-group")
            assert flag_value(warm, "--gsp-num-groups") == 1, name
            assert flag_value(warm, "--gsp-prompts-per-group") == min(
                per_group, serving_workloads.WARM_PROMPTS
            ), name
            sent = flag_value(warm, "--gsp-num-groups") * flag_value(
                warm, "--gsp-prompts-per-group"
            )
            assert flag_value(warm, "--num-prompts") == sent, name
        else:
            assert flag_value(warm, "--num-prompts") == min(
                asked, serving_workloads.WARM_PROMPTS
            ), name
        # every other argument is the measured run's, in order
        assert len(warm) == len(workload.args), name
        for i, (a, b) in enumerate(zip(warm, workload.args)):
            assert a == b or workload.args[i - 1] in counts, (name, a, b)
    printed = "P99 ITL (ms):                            7.37      \n"
    printed += "Max ITL (ms):                            10922.26  \n"
    assert float(serving_results.MAX_ITL.search(printed).group(1)) == 10922.26


def test_backends_name_their_server_and_rows(tmp_path) -> None:
    flags = ["--mem-fraction-static", "0.8"]
    spec = bench_serving.server_spec("pat-triton-prefill", tmp_path, 30400, tmp_path / "l", flags)
    command = spec.command()
    assert command[1:3] == ["-m", "sglang_pat.launch_server"]
    assert spec.name == "pat-triton-prefill"  # rows, JSONL and logs carry it, not "pat"

    def command_value(flag: str) -> str:  # flag_value's, for a string value
        return command[command.index(flag) + 1]

    assert command_value("--attention-backend") == "pat"
    assert command_value("--prefill-attention-backend") == "triton"
    assert command_value("--mem-fraction-static") == "0.8"
    # The rest name no prefill backend: pat's launcher picks it (FlashInfer where installed).
    for name in ("pat", "triton", "flashinfer"):
        command = bench_serving.server_spec(name, tmp_path, 1, tmp_path / "l", flags).command()
        assert command[command.index("--attention-backend") + 1] == name
        assert "--prefill-attention-backend" not in command
        assert ("sglang_pat.launch_server" in command) == (name == "pat")


def test_the_run_line_names_the_pat_environment() -> None:
    """A run with the lean kernel on in the server says so where its results print the run."""
    argv = ["benchmarks/bench_serving.py", "--backends", "pat"]
    environ = {"SGLANG_PAT_VERIFY": "1", "PATH": "/bin", "SGLANG_PAT_LEAN_KERNEL": "1"}
    line = bench_serving.run_line(argv, environ)
    assert line == (
        "SGLANG_PAT_LEAN_KERNEL=1 SGLANG_PAT_VERIFY=1 benchmarks/bench_serving.py --backends pat"
    )
    assert bench_serving.run_line(argv, {"PATH": "/bin"}) == " ".join(argv)


def test_pat_servers_with_different_settings_stay_apart(tmp_path: Path) -> None:
    """Two pat runs (the lean kernel off, then on) merged with ``--summarize`` keep both rows,
    labelled by their settings; a later run of the same server still replaces the earlier."""

    def run(name: str, env: str, tpot: float) -> Path:
        argv = ["benchmarks/bench_serving.py", "--backends", "pat"]
        environ = dict([env.split("=")]) if env else {}
        line = bench_serving.run_line(argv, environ)
        row = dict(workload="mooncake-conversation", backend="pat", mean_tpot_ms=tpot, run=line)
        (tmp_path / name).mkdir()
        (tmp_path / name / "rows.jsonl").write_text(json.dumps(row) + "\n")
        return tmp_path / name

    runs = [run("off", "", 8.3), run("on", "SGLANG_PAT_LEAN_KERNEL=1", 8.7), run("again", "", 8.4)]
    argv = ["bench_serving.py", "--summarize", *map(str, runs), "--out", str(tmp_path / "m")]
    pytest.importorskip("matplotlib")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        bench_serving.main()
    summary = json.loads((tmp_path / "m" / "serving-summary.json").read_text())
    servers = summary["mooncake-conversation"]
    assert {k: v["mean_tpot_ms"] for k, v in servers.items()} == {
        "pat": 8.4,
        "pat SGLANG_PAT_LEAN_KERNEL=1": 8.7,
    }
    assert "| pat SGLANG_PAT_LEAN_KERNEL=1 |" in (tmp_path / "m" / "serving.md").read_text()
    assert serving_results.server_label(dict(backend="flashinfer", run="x --y")) == "flashinfer"


def test_recount_gives_each_workload_its_measured_passes() -> None:
    """A server log of two workloads, each a warm pass and two measured passes, every pass
    opened by a cache flush: each workload gets its own two measured passes, in order; a log
    with another number of flushes is refused."""
    flushed = "Cache flushed successfully!"
    texts = ["start\n", "warm a\n", "a1\n", "a2\n", "warm b\n", "b1\n", "b2\n"]
    log = flushed.join(texts)
    passes = recount_decode.measured_passes(log, ["a", "b"], passes=2, warm=True)
    assert passes == {"a": ["a1\n", "a2\n"], "b": ["b1\n", "b2\n"]}
    no_warm = recount_decode.measured_passes(log, ["a", "b", "c"], passes=2, warm=False)
    assert no_warm["a"] == ["warm a\n", "a1\n"] and no_warm["c"] == ["b1\n", "b2\n"]
    with pytest.raises(ValueError, match="6 cache flushes"):
        recount_decode.measured_passes(log, ["a"], passes=2, warm=True)
