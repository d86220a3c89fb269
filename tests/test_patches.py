"""The SGLang overlay: apply() before/after/twice, a spawned child, the init_new staging."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

pytest.importorskip("sglang")


def run_python(code: str, tmp_path=None) -> str:
    """Run code in a fresh interpreter (from a file when given: spawn re-imports __main__)."""
    args = [sys.executable, "-c", textwrap.dedent(code)]
    if tmp_path is not None:
        script = tmp_path / "script.py"
        script.write_text(textwrap.dedent(code))
        args = [sys.executable, str(script)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_apply_before_after_twice() -> None:
    out = run_python(
        """
        from sglang.srt.layers.attention.attention_registry import ATTENTION_BACKENDS
        from sglang.srt.model_executor.forward_batch_info import ForwardBatch
        from sglang.srt.server_args import ATTENTION_BACKEND_CHOICES
        import sglang_pat.patches as patches
        print("before", "pat" in ATTENTION_BACKENDS, "pat" in ATTENTION_BACKEND_CHOICES,
              patches.is_applied())
        from sglang.srt.model_executor.runner_backend.full_cuda_graph_backend import (
            FullCudaGraphBackend,
        )
        stock_capture = FullCudaGraphBackend.capture_one
        patches.apply()
        first = ForwardBatch.__dict__["init_new"].__func__
        capture = FullCudaGraphBackend.capture_one
        patches.apply()
        print("after", "pat" in ATTENTION_BACKENDS, ATTENTION_BACKEND_CHOICES.count("pat"),
              patches.is_applied(), ForwardBatch.__dict__["init_new"].__func__ is first,
              FullCudaGraphBackend.capture_one is capture, capture.__wrapped__ is stock_capture)
        """
    )
    assert "before False False False" in out
    assert "after True 1 True True True True" in out


def test_capture_one_runs_stock_without_a_per_form_decoder() -> None:
    """The wrapped capture is SGLang's own, with its arguments, result and graph class, when no
    PAT decoder asked for a graph a form (the lean kernel or the switch off)."""
    out = run_python(
        """
        from sglang.srt.model_executor.runner_backend.full_cuda_graph_backend import (
            FullCudaGraphBackend,
        )
        import torch
        import sglang_pat.patches as patches

        calls = []
        def fake_capture_one(self, shape_key, forward_fn, capture_inputs=None, hook=None):
            calls.append((shape_key, forward_fn(), capture_inputs, torch.cuda.CUDAGraph))
            return "result"
        FullCudaGraphBackend.capture_one = fake_capture_one
        patches.apply()
        backend = FullCudaGraphBackend.__new__(FullCudaGraphBackend)
        result = backend.capture_one(16, lambda: "forward", capture_inputs="inputs")
        (key, forward, inputs, graph_class), = calls
        print("capture", result, key, forward, inputs, graph_class is torch.cuda.graphs.CUDAGraph)
        """
    )
    assert "capture result 16 forward inputs True" in out


def test_capture_one_captures_each_form_for_a_per_form_decoder() -> None:
    """With a per-form decoder (the lean kernel and the switch on) whose capture plan has the pair,
    the wrapped capture runs SGLang's twice, the pair's form then the all-items launch's, and
    the backend's dicts hold the graph and output of the form the plan wants."""
    out = run_python(
        """
        from sglang.srt.model_executor.runner_backend.full_cuda_graph_backend import (
            FullCudaGraphBackend,
        )
        import sglang_pat.patches as patches
        from sglang_pat import graph_switch

        class Decoder:
            lean_needed, splits, capture_form, captured_pair, bound = True, False, None, False, None
            def forward(self):
                self.captured_pair |= self.capture_form is True
                return self.capture_form
            def bind_graph(self, graphs):
                self.bound = graphs
                graphs.select(self.splits)

        def fake_capture_one(self, shape_key, forward_fn):
            form = forward_fn()
            self._graphs[shape_key] = f"graph {form}"
            self._outputs[shape_key] = f"output {form}"
        FullCudaGraphBackend.capture_one = fake_capture_one
        patches.apply()
        decoder = Decoder()
        graph_switch.make_per_form(decoder)
        backend = FullCudaGraphBackend.__new__(FullCudaGraphBackend)
        backend._graphs, backend._outputs = {}, {}
        backend.capture_one(32, decoder.forward)
        print("held", backend._graphs[32], "|", backend._outputs[32], "|", decoder.capture_form)
        decoder.bound.select(True)
        print("selected", backend._graphs[32], "|", backend._outputs[32])
        """
    )
    assert "held graph False | output False | None" in out
    assert "selected graph True | output True" in out


def test_spawned_child_loads_the_plugin(tmp_path) -> None:
    """SGLang's scheduler processes are spawned and call load_plugins(); so does this one."""
    out = run_python(
        """
        import multiprocessing as mp

        def child(queue):
            from sglang.srt.plugins import load_plugins
            load_plugins()
            from sglang.srt.layers.attention.attention_registry import ATTENTION_BACKENDS
            queue.put("pat" in ATTENTION_BACKENDS)

        if __name__ == "__main__":
            ctx = mp.get_context("spawn")
            queue = ctx.Queue()
            process = ctx.Process(target=child, args=(queue,))
            process.start()
            print("child sees pat:", queue.get(timeout=240))
            process.join()
        """,
        tmp_path,
    )
    assert "child sees pat: True" in out


def test_init_new_stages_decode_batches_only() -> None:
    out = run_python(
        """
        from types import SimpleNamespace
        from sglang.srt.model_executor.forward_batch_info import ForwardBatch
        import sglang_pat.patches as patches
        from sglang_pat.backend import PatAttnBackend

        calls = []
        def fake_init_new(cls, batch, model_runner, **kwargs):
            calls.append(batch.forward_mode.name)
            return "forward-batch"
        ForwardBatch.init_new = classmethod(fake_init_new)
        patches.apply()

        backend = PatAttnBackend.__new__(PatAttnBackend)  # no GPU: staging only
        backend.staged = []
        backend.stage_batch = lambda batch: backend.staged.append(batch.name)
        class Mode:
            def __init__(self, name): self.name = name
            def is_decode(self): return self.name == "DECODE"
        runner = SimpleNamespace(attn_backend=SimpleNamespace(decode_backend=backend))
        for name in ("EXTEND", "DECODE", "IDLE"):
            batch = SimpleNamespace(forward_mode=Mode(name), name=name)
            assert ForwardBatch.init_new(batch, runner) == "forward-batch"
        print("calls", calls, "staged", backend.staged)
        """
    )
    assert "calls ['EXTEND', 'DECODE', 'IDLE'] staged ['DECODE']" in out


def test_wrong_sglang_version_is_refused(monkeypatch) -> None:
    import sglang
    import sglang_pat.patches as patches

    monkeypatch.setattr(sglang, "__version__", "0.5.99")
    with pytest.raises(RuntimeError, match="0.5.17"):
        patches.apply()


def test_launch_server_defaults_and_passthrough(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SGLANG_PAT_HOME", str(tmp_path))
    import importlib

    launch = importlib.reload(importlib.import_module("sglang_pat.launch_server"))
    monkeypatch.setattr(launch, "flashinfer_installed", lambda: True)
    args = launch.server_argv(["--port", "30000", "--disable-cuda-graph"])
    assert args[:3] == ["--port", "30000", "--disable-cuda-graph"]
    assert args[args.index("--attention-backend") + 1] == "pat"
    assert args[args.index("--prefill-attention-backend") + 1] == "flashinfer"
    model = args[args.index("--model-path") + 1]
    assert (tmp_path / "llama-3-8b-dummy" / "config.json").exists() and model.endswith("dummy")
    assert args[args.index("--load-format") + 1] == "dummy"
    given = ["--model-path", "/m", "--attention-backend", "triton", "--load-format", "auto"]
    assert launch.server_argv(given) == given


@pytest.mark.parametrize(
    ("given", "installed", "prefill"),
    [
        (["--attention-backend=pat"], True, "flashinfer"),
        (["--attention-backend", "triton", "--decode-attention-backend", "pat"], True, None),
        (["--attention-backend", "pat", "--prefill-attention-backend", "triton"], True, "triton"),
        (["--prefill-attention-backend=fa3"], True, "fa3"),
        (["--attention-backend", "pat", "--prefill-attention-backend", "pat"], True, "pat"),
        (["--attention-backend", "pat"], False, None),
        (["--decode-attention-backend", "flashinfer"], True, None),
    ],
)
def test_launch_server_prefill_backend(given, installed, prefill, monkeypatch) -> None:
    """FlashInfer takes the prefill that pat would do, unless the user named a prefill backend
    (``--attention-backend triton`` names triton) or FlashInfer is missing."""
    import sglang_pat.launch_server as launch

    monkeypatch.setattr(launch, "flashinfer_installed", lambda: installed)
    args = launch.server_argv(["--model-path", "/m", *given])
    assert launch.flag_value(args, "--prefill-attention-backend") == prefill
    assert args[: 2 + len(given)] == ["--model-path", "/m", *given]


def test_launch_server_help_lists_pat() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sglang_pat.launch_server", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pat" in result.stdout.split("--attention-backend", 1)[1][:2000]


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU this would start a server")
@pytest.mark.parametrize("backend", ["pat", "pat-misspelled"])
def test_sglang_serve_accepts_pat(backend, tmp_path) -> None:
    """``sglang serve`` loads the plugins before it parses its flags, so ``pat`` passes the
    parser there too; without a GPU the server then stops at SGLang's device check. A name
    that no plugin registers stops at the parser (the control)."""
    from sglang_pat.model_dirs import make_model_dir

    model = make_model_dir(tmp_path / "llama-3-8b-dummy", "llama-3-8b")
    sglang_cli = [sys.executable, "-c", "from sglang.cli.main import main; main()"]
    flags = ["--model-path", str(model), "--load-format", "dummy", "--attention-backend", backend]
    result = subprocess.run(
        [*sglang_cli, "serve", *flags], capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    if backend == "pat":
        assert "invalid choice" not in result.stderr, result.stderr[-2000:]
        assert "No accelerator" in result.stderr, result.stderr[-2000:]
    else:
        assert f"invalid choice: '{backend}'" in result.stderr, result.stderr[-2000:]


def test_encoder_decoder_models_are_refused_with_a_working_alternative() -> None:
    from types import SimpleNamespace

    from sglang_pat.patches import _create_pat_backend

    runner = SimpleNamespace(model_config=SimpleNamespace(is_encoder_decoder=True))
    with pytest.raises(ValueError, match="flashinfer"):
        _create_pat_backend(runner)
