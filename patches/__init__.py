"""The overlay onto SGLang 0.5.17 (installed as ``sglang_pat.patches``).

``apply()`` is idempotent and refuses any other SGLang version. Official hooks first:
``register_attention_backend("pat")`` and ``add_attention_backend_choices(["pat"])``; two
monkey-patches where no hook exists:
- ``ForwardBatch.init_new`` is wrapped so that, for a decode batch, the batch's PrefixForest is
  built from ``batch.reqs`` / ``batch.tree_cache`` and staged on the PAT backend (not on the
  ForwardBatch, which the eager path copies and graph replay replaces with a namespace);
- ``FullCudaGraphBackend.capture_one`` is wrapped so that, when the PAT decoder captures the
  lean kernel's pair, each form of the layers (the pair, the all-items launch) is captured as
  a graph of its own, which each step's plan puts in place (``sglang_pat/graph_switch.py``);
  otherwise it runs unchanged.
Each patch is logged once per process. Nothing here touches CUDA.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

SUPPORTED_SGLANG = "0.5.17"
_applied: set[str] = set()


def _log_once(name: str, message: str) -> None:
    if name not in _applied:
        _applied.add(name)
        logger.info("sglang-pat: %s", message)


def check_version() -> None:
    import sglang

    if sglang.__version__ != SUPPORTED_SGLANG:
        raise RuntimeError(
            f"sglang-pat supports sglang=={SUPPORTED_SGLANG} only, found {sglang.__version__}; "
            f'install it with pip install "sglang=={SUPPORTED_SGLANG}"'
        )


def find_pat_backend(attn_backend: Any) -> Any:
    """The PatAttnBackend behind a model runner's backend (or a hybrid's decode side)."""
    from sglang_pat.backend import PatAttnBackend

    for candidate in (attn_backend, getattr(attn_backend, "decode_backend", None)):
        if isinstance(candidate, PatAttnBackend):
            return candidate
    return None


def _create_pat_backend(runner: Any) -> Any:
    from sglang_pat.backend import PatAttnBackend  # lazy: no triton/CUDA in the HTTP process

    if runner.model_config.is_encoder_decoder:  # triton, pat's base, has no cross attention
        raise ValueError(
            "pat: encoder-decoder models are not supported; use --attention-backend flashinfer"
        )
    return PatAttnBackend(runner)


def _register_backend() -> None:
    from sglang.srt.layers.attention.attention_registry import (
        ATTENTION_BACKENDS,
        register_attention_backend,
    )
    from sglang.srt.server_args import ATTENTION_BACKEND_CHOICES, add_attention_backend_choices

    if "pat" not in ATTENTION_BACKEND_CHOICES:
        add_attention_backend_choices(["pat"])
    if ATTENTION_BACKENDS.get("pat") is not _create_pat_backend:
        register_attention_backend("pat")(_create_pat_backend)
    _log_once("registry", "attention backend 'pat' registered")


def _wrap_init_new() -> None:
    from sglang.srt.model_executor.forward_batch_info import ForwardBatch

    original = ForwardBatch.__dict__["init_new"]
    if getattr(original.__func__, "_sglang_pat", False):
        return

    def init_new(cls, batch, model_runner, *args, **kwargs):
        forward_batch = original.__func__(cls, batch, model_runner, *args, **kwargs)
        if batch.forward_mode is not None and batch.forward_mode.is_decode():
            backend = find_pat_backend(model_runner.attn_backend)
            if backend is not None:
                backend.stage_batch(batch)
        return forward_batch

    init_new._sglang_pat = True
    init_new.__wrapped__ = original.__func__
    ForwardBatch.init_new = classmethod(init_new)
    _log_once("init_new", "ForwardBatch.init_new stages each decode batch's prefix forest")


def _wrap_capture_one() -> None:
    from sglang.srt.model_executor.runner_backend.full_cuda_graph_backend import (
        FullCudaGraphBackend,
    )

    original = FullCudaGraphBackend.capture_one
    if getattr(original, "_sglang_pat", False):
        return

    def capture_one(self, shape_key, *args, **kwargs):
        from sglang_pat import graph_switch  # lazy: CUDA-side only

        return graph_switch.form_capture(
            lambda: original(self, shape_key, *args, **kwargs),
            lambda: (self._graphs, self._outputs),
            shape_key,
        )

    capture_one._sglang_pat = True
    capture_one.__wrapped__ = original
    FullCudaGraphBackend.capture_one = capture_one
    _log_once("capture_one", "FullCudaGraphBackend.capture_one captures PAT graphs a form each")


def apply() -> None:
    """Register the ``pat`` backend, its forest staging and its graph switch; safe to call
    many times."""
    check_version()
    _register_backend()
    _wrap_init_new()
    _wrap_capture_one()


def is_applied() -> bool:
    from sglang.srt.layers.attention.attention_registry import ATTENTION_BACKENDS
    from sglang.srt.model_executor.forward_batch_info import ForwardBatch
    from sglang.srt.model_executor.runner_backend.full_cuda_graph_backend import (
        FullCudaGraphBackend,
    )

    wrapped = getattr(ForwardBatch.__dict__["init_new"].__func__, "_sglang_pat", False)
    wrapped = wrapped and getattr(FullCudaGraphBackend.capture_one, "_sglang_pat", False)
    return "pat" in ATTENTION_BACKENDS and wrapped
