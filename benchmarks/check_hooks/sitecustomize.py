"""Test-harness hooks for ``check_equality.py``, active only in processes started with this
folder on PYTHONPATH (Python imports ``sitecustomize`` at start-up, spawned children included).

- ``PAT_CHECK_INIT=hf``: replace SGLang's dummy initialisation (uniform ±1e-3, under which
  every attention and MLP output vanishes in the bf16 residual stream, so a model's output
  depends on the last token only) with Hugging Face's initialisation of an untrained Llama:
  normal(0, 0.02) for every weight, 1 for norm weights. Attention then decides the output.
  Both backends of a comparison get the same weights (a fixed seed per parameter name).
- ``PAT_CHECK_SM_SCALE=S``: multiply PAT's softmax scale by S, a deliberately wrong kernel
  for the negative control; the equality check must fail under it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import zlib


def _hf_init(model, *args, **kwargs) -> None:
    import torch

    for name, param in model.state_dict().items():
        if not torch.is_floating_point(param):
            continue
        if name.endswith("norm.weight"):
            param.fill_(1.0)
            continue
        generator = torch.Generator(device=param.device)
        generator.manual_seed(zlib.crc32(name.encode()))
        param.normal_(0.0, 0.02, generator=generator)


def _patch_loader(module) -> None:
    module.initialize_dummy_weights = _hf_init


def _patch_decoder(module) -> None:
    scale = float(os.environ["PAT_CHECK_SM_SCALE"])
    forward = module.PatDecoder.forward

    def perturbed(self, *args, sm_scale: float, **kwargs):
        return forward(self, *args, sm_scale=sm_scale * scale, **kwargs)

    module.PatDecoder.forward = perturbed


PATCHES = {}
if os.environ.get("PAT_CHECK_INIT") == "hf":
    PATCHES["sglang.srt.model_loader.loader"] = _patch_loader
if os.environ.get("PAT_CHECK_SM_SCALE"):
    PATCHES["sglang_pat.decoder"] = _patch_decoder


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs PATCHES[name](module) right after ``name`` is first imported."""

    def find_spec(self, name, path, target=None):
        if name not in PATCHES:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            PATCHES[name](module)
            print(f"check_hooks: patched {name}", file=sys.stderr, flush=True)

        spec.loader.exec_module = exec_and_patch
        return spec


if PATCHES:
    sys.meta_path.insert(0, _AfterImport())
