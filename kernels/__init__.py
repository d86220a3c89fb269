"""Triton kernels of PAT decode (installed as ``sglang_pat.kernels``)."""
