"""The FlashInfer merge_state warm-up that the pat backend runs before serving."""

from __future__ import annotations

import sys

import pytest
import torch

from sglang_pat.warm_prefill import warm_flashinfer_merge


def test_flashinfer_prefill_builds_the_cascade_module(monkeypatch) -> None:
    import flashinfer.cascade

    calls = []
    monkeypatch.setattr(flashinfer.cascade, "get_cascade_module", lambda: calls.append("built"))
    seconds = warm_flashinfer_merge("flashinfer")
    assert calls == ["built"] and seconds is not None and seconds >= 0.0


@pytest.mark.parametrize("prefill", ["pat", "triton", None])
def test_other_prefill_backends_leave_flashinfer_alone(monkeypatch, prefill) -> None:
    monkeypatch.setitem(sys.modules, "flashinfer.cascade", None)  # importing it would raise
    assert warm_flashinfer_merge(prefill) is None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: FlashInfer builds for it")
def test_warmed_merge_state_merges() -> None:
    """After the warm-up, SGLang's prefill merge runs and merges two states by their LSEs."""
    from flashinfer.cascade import merge_state

    assert warm_flashinfer_merge("flashinfer") is not None
    gen = torch.Generator(device="cuda").manual_seed(0)
    v_a, v_b = (torch.randn(5, 4, 128, device="cuda", generator=gen).half() for _ in range(2))
    s_a, s_b = (torch.randn(5, 4, device="cuda", generator=gen) for _ in range(2))
    merged, lse = merge_state(v_a, s_a, v_b, s_b)
    # FlashInfer's LSEs are base 2
    w_a = torch.sigmoid((s_a - s_b) * torch.log(torch.tensor(2.0, device="cuda")))[..., None]
    expected = w_a * v_a.float() + (1 - w_a) * v_b.float()
    torch.testing.assert_close(merged.float(), expected, atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(lse, torch.logaddexp2(s_a, s_b), atol=1e-4, rtol=1e-4)
