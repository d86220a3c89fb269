"""The CUDA driver calls the launchers make beside Triton's own: the shared-memory carveout
of a compiled kernel, and whether a device takes programmatic dependent launches."""

from __future__ import annotations

import ctypes
import functools

import torch

CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT = 9  # cuda.h's CUfunction_attribute


_carveout_set: set[int] = set()  # ids of compiled kernels (Triton caches them for good)


@functools.cache
def cuda_driver() -> ctypes.CDLL:
    """The CUDA driver library, for the calls PyTorch and Triton do not expose (the carveout
    here, the decoder's own stream in ``sglang_pat/streams.py``)."""
    return ctypes.CDLL("libcuda.so.1")


def prefer_max_shared_carveout(compiled: object) -> None:
    """Ask the driver to configure an SM running this kernel with the largest shared-memory
    carveout, once per compiled kernel.

    Triton asks so only for kernels above 48 KB. The private part's smaller build would
    otherwise get SMs configured with less shared memory, where no shared-part program fits
    beside it, and the two would run one after the other
    (benchmarks/experiments/two_kernels/, "c1").
    """
    if id(compiled) in _carveout_set:
        return
    compiled._init_handles()  # type: ignore[attr-defined]
    result = cuda_driver().cuFuncSetAttribute(
        ctypes.c_void_p(compiled.function),  # type: ignore[attr-defined]
        CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT,
        100,  # percent of the unified L1 / shared memory
    )
    if result != 0:
        raise RuntimeError(f"cuFuncSetAttribute(carveout) failed with CUresult {result}")
    _carveout_set.add(id(compiled))


@functools.cache
def pdl_supported(device: torch.device) -> bool:
    """Programmatic dependent launch: CUDA on compute capability 9.0 or later (the Triton
    interpreter has no grid dependency control)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 9
