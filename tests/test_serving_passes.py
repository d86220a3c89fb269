"""Repeated measured passes of a serving workload, and the paired per-request TPOT comparison
of two servers (CPU only: bench_serving's runs are faked)."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench_serving = pytest.importorskip("bench_serving")
serving_results = pytest.importorskip("serving_results")
serving_workloads = pytest.importorskip("serving_workloads")
tpot_paired = pytest.importorskip("tpot_paired")


def fake_bench(tpots: list[float], calls: list[list[str]]):
    """A stand-in for ``subprocess.run`` of bench_serving: appends one result per call to the
    ``--output-file`` and prints a Max ITL line, as bench_serving does."""

    def run(command, stdout, **kwargs):
        calls.append(command)
        tpot = tpots[len(calls) - 1]
        result = dict(
            mean_tpot_ms=tpot, median_tpot_ms=tpot - 1, median_itl_ms=tpot / 2,
            mean_itl_ms=tpot / 2 + 1, output_throughput=100.0 * len(calls),
            median_ttft_ms=10.0 * len(calls), completed=4,
            total_output_tokens=40, total_output_tokens_retokenized=40,
        )  # fmt: skip
        output = Path(command[command.index("--output-file") + 1])
        with open(output, "a") as f:
            f.write(json.dumps(result) + "\n")
        stdout.write(f"Max ITL (ms):                            {tpot * 10:.2f}  \n")

    return run


def test_passes_append_to_one_jsonl_and_the_row_holds_them(tmp_path, monkeypatch) -> None:
    spec = bench_serving.server_spec("flashinfer", tmp_path, 1, tmp_path / "server.log", [])
    spec.log.write_text("Decode batch, #running-req: 128, gen throughput (token/s): 5.0\n")
    name = "random-ids-2048-256"
    (tmp_path / f"{name}-flashinfer.jsonl").write_text('{"mean_tpot_ms": 99.0}\n')  # stale
    calls: list[list[str]] = []
    monkeypatch.setattr(bench_serving.subprocess, "run", fake_bench([8.0, 9.0, 7.0], calls))
    args = argparse.Namespace(passes=3, mooncake_dir=str(tmp_path), commit="175c548")
    row = bench_serving.run_workload(name, spec, tmp_path, args)
    assert len(calls) == 3 and "error" not in row
    assert row["commit"] == "175c548"
    assert row["passes"] == 3
    assert row["mean_tpot_ms_by_pass"] == [8.0, 9.0, 7.0]  # not the stale line
    assert row["mean_tpot_ms"] == pytest.approx(8.0)
    assert row["median_itl_ms"] == 4.0 and row["median_tpot_ms"] == 7.0
    assert row["mean_itl_ms"] == pytest.approx(5.0)
    assert row["output_tok_s"] == pytest.approx(200.0) and row["median_ttft_ms"] == 20.0
    assert row["completed"] == 12 and row["max_itl_ms"] == 90.0
    # the warm pass runs once, whatever --passes says
    calls.clear()
    warm = bench_serving.run_workload(name, spec, tmp_path, args, warm=True)
    assert len(calls) == 1 and warm["passes"] == 1


def test_pass_figures_need_a_pass_and_keep_missing_figures_missing() -> None:
    with pytest.raises(ValueError, match="no measured pass"):
        serving_results.pass_figures([])
    one = dict(mean_tpot_ms=8.0, median_itl_ms=5.0, output_throughput=1.0, median_ttft_ms=2.0)
    figures = serving_results.pass_figures([one, dict(one, median_itl_ms=None)])
    assert figures["median_itl_ms"] is None and figures["mean_itl_ms"] is None
    assert figures["mean_tpot_ms"] == 8.0 and figures["completed"] is None


def test_the_replays_ask_for_per_request_details() -> None:
    for name, workload in serving_workloads.WORKLOADS.items():
        replay = workload.dataset_file is not None
        assert ("--output-details" in workload.args) == replay, name
        assert ("--output-details" in workload.warm_args) == replay, name


def replay_pass(decode_ms: float, stalls: dict[int, float], outputs: list[int]) -> dict:
    """A pass with per-request details: every gap ``decode_ms`` but request i's first gap
    ``stalls[i]`` (ms); ITLs in seconds, as bench_serving writes them."""
    itls = []
    for i, n in enumerate(outputs):
        gaps = [decode_ms / 1e3] * (n - 1)
        if i in stalls and gaps:
            gaps[0] = stalls[i] / 1e3
        itls.append(gaps)
    return dict(
        itls=itls, output_lens=outputs, input_lens=[100 + i for i in range(len(outputs))],
        errors=[""] * len(outputs), mean_tpot_ms=None,
    )  # fmt: skip


def test_paired_tpot_splits_decode_steps_from_stalls() -> None:
    rng = np.random.default_rng(1)
    outputs = [int(n) for n in rng.integers(2, 300, size=60)] + [1]  # one without a gap
    stalls = {3: 150.0, 7: 400.0, 20: 90.0}
    first = [replay_pass(5.2, stalls, outputs), replay_pass(5.2, {}, outputs)]
    second = [replay_pass(5.0, stalls, outputs), replay_pass(5.0, {}, outputs)]
    result = tpot_paired.paired(first, second, stall_factor=3.0)
    assert result["requests"] == 120 and result["passes"] == 2
    assert result["decode_part_ratio"] == pytest.approx(1.04)
    low, high = result["decode_part_ratio_ci95"]
    assert low == pytest.approx(1.04) and high == pytest.approx(1.04)  # every request 1.04x
    assert result["first"]["stall_part_ms"] == pytest.approx(result["second"]["stall_part_ms"])
    # the parts add up to bench_serving's TPOT: (latency - TTFT) / (output tokens - 1)
    tpots = [sum(g) * 1e3 / (n - 1) for p in first for g, n in zip(p["itls"], outputs) if n > 1]
    assert result["first"]["mean_tpot_ms"] == pytest.approx(np.mean(tpots))
    assert 1.0 < result["mean_tpot_ratio"] < 1.04  # the equal stalls dilute the decode gap
    low, high = result["mean_tpot_ratio_ci95"]
    assert low <= result["mean_tpot_ratio"] <= high


def test_paired_tpot_names_the_requests_that_decide_the_stalls(tmp_path) -> None:
    outputs = [3, 40, 200, 120]
    # request 0 catches a 100 ms prefill after its first token on the first server only; on the
    # second that prefill lands before its first token (a longer TTFT): the same sum
    first = replay_pass(5.0, {0: 100.0, 2: 60.0}, outputs)
    second = replay_pass(5.0, {2: 50.0}, outputs)
    first["ttfts"], second["ttfts"] = [0.3, 0.1, 0.1, 0.1], [0.395, 0.1, 0.1, 0.1]
    path = tmp_path / "first.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(first) + "\n").encode()))
    result = tpot_paired.paired(tpot_paired.read_passes(path), [second], stall_factor=3.0)
    top = result["by_pass"][0]["deciding"]
    assert [r["request"] for r in top] == [0, 2, 1]  # by |stall part difference|
    assert top[0]["output_tokens"] == 3
    assert top[0]["stall_part_ms"] == pytest.approx([50.0, 0.0])  # 100 ms over 2 gaps
    assert top[0]["ttft_plus_stalls_ms"] == pytest.approx([400.0, 395.0])
    assert top[1]["stall_part_ms"] == pytest.approx([60.0 / 199, 50.0 / 199])
    assert top[2]["stall_part_ms"] == [0.0, 0.0]
    text = tpot_paired.table(result, ("a", "b"))
    assert "| 1 | 0 | 3 | 50.0 / 0.0 | 400.0 / 395.0 |" in text


def test_paired_tpot_refuses_what_cannot_be_paired(tmp_path) -> None:
    outputs = [5, 6, 7]
    a = replay_pass(5.0, {}, outputs)
    with pytest.raises(ValueError, match="same requests"):
        tpot_paired.paired([a], [replay_pass(5.0, {}, [5, 6, 8])], 3.0)
    with pytest.raises(ValueError, match="equal numbers"):
        tpot_paired.paired([a, a], [a], 3.0)
    path = tmp_path / "plain.jsonl"
    path.write_text(json.dumps(dict(mean_tpot_ms=8.0)) + "\n")
    with pytest.raises(ValueError, match="--output-details"):
        tpot_paired.read_passes(path)
    path.write_text(json.dumps(dict(a, errors=["", "timeout", ""])) + "\n")
    with pytest.raises(ValueError, match="failed requests"):
        tpot_paired.read_passes(path)


def test_paired_tpot_command_writes_its_figures(tmp_path, monkeypatch, capsys) -> None:
    outputs = [4, 9, 30]
    files = []
    for name, decode in (("pat", 5.5), ("fi", 5.0)):
        files.append(tmp_path / f"{name}.jsonl")
        files[-1].write_text(json.dumps(replay_pass(decode, {1: 80.0}, outputs)) + "\n")
    out = tmp_path / "paired.json"
    argv = ["tpot_paired.py", *map(str, files), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    tpot_paired.main()
    result = json.loads(out.read_text())
    assert result["decode_part_ratio"] == pytest.approx(1.1)
    assert result["files"] == [str(f) for f in files]
    printed = capsys.readouterr().out
    assert "| decode part ms |" in printed
    decode_row = next(line for line in printed.splitlines() if line.startswith("| decode part"))
    assert "| 1.100 |" in decode_row and "| mean TPOT ms |" in printed


def test_paired_tpot_command_pairs_the_first_passes_and_plots(
    tmp_path, monkeypatch, capsys
) -> None:
    """``--passes 1`` pairs a two-pass run with a one-pass run cut short; the figures are pass
    1's alone, the JSON carries the command, and ``--plot`` draws the PNG."""
    pytest.importorskip("matplotlib")
    outputs = [4, 9, 30]
    first = tmp_path / "pat.jsonl"
    first.write_text(
        json.dumps(replay_pass(5.5, {}, outputs))
        + "\n"
        + json.dumps(replay_pass(9.0, {}, outputs))
        + "\n"
    )
    second = tmp_path / "fi.jsonl"
    second.write_text(json.dumps(replay_pass(5.0, {}, outputs)) + "\n")
    out, png = tmp_path / "paired.json", tmp_path / "paired.png"
    argv = ["tpot_paired.py", str(first), str(second), "--passes", "1", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--plot", str(png)])
    tpot_paired.main()
    result = json.loads(out.read_text())
    assert result["passes"] == 1
    assert result["decode_part_ratio"] == pytest.approx(1.1)  # pass 2's 9.0 ms left out
    assert "--passes 1" in result["command"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    for passes in ("2", "0"):
        monkeypatch.setattr(sys, "argv", [*argv[:3], "--passes", passes])
        with pytest.raises(SystemExit):
            tpot_paired.main()
        assert "the files hold 2 and 1 passes" in capsys.readouterr().err


def test_first_token_split_leaves_one_request_out_of_the_mean_tpot(
    capsys, tmp_path, monkeypatch
) -> None:
    """``replay_timeline/first_token_split.py``: bench_serving's mean TPOT (requests of two or
    more tokens), the same without the named request, and one table row per paired pass."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks/experiments"))
    from replay_timeline import first_token_split

    # request 0: 1 token (no TPOT); 1: gaps 10, 20 ms; 2: one gap of 100 ms
    result = dict(
        output_lens=[1, 3, 2], itls=[[], [0.010, 0.020], [0.100]], ttfts=[0.5, 0.4, 0.3],
        input_lens=[10, 20, 30],
        mean_e2e_latency_ms=900.0,
    )  # fmt: skip
    assert first_token_split.mean_tpot_ms(result) == pytest.approx((15 + 100) / 2)
    assert first_token_split.mean_tpot_ms(result, leave_out=2) == pytest.approx(15)
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(result) + "\n" + json.dumps(result) + "\n")
    argv = ["x", "--pat", str(path), "--flashinfer", str(path), "--request", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    first_token_split.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 1 ")]
    assert rows == ["| 1 | 400 / 10, 20 | 400 / 10, 20 | 1.000 | 1.000 | 1.0000 |"]
