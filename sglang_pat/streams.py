"""A CUDA stream of the decoder's own, for the lean kernel's private part.

``torch.cuda.Stream()`` hands out streams round-robin from a pool of 32 per device and
priority, shared by everything in the process: SGLang's forward, copy and schedule streams,
``torch.cuda.graph``'s default capture stream, other libraries' streams. A decoder's side
stream taken from that pool is sooner or later the very stream that captures or runs the
layer. The fork then joins a stream to itself, and the private part runs after the shared
part instead of beside it: 44.9 against 28.8 µs on ``1,256_256,32`` in session 23's kernel
benchmark, where the other providers' streams had moved the pool round
(benchmarks/experiments/stream_pool/). Or it queues behind another user's work, such as
the overlap scheduler's copies. A stream created through the driver is in no pool.
"""

from __future__ import annotations

import ctypes
import weakref

import torch

from .kernels.driver import cuda_driver

CU_STREAM_NON_BLOCKING = 1  # cuda.h: no implicit sync with the legacy default stream, as PyTorch's


def _destroy(handle: int) -> None:
    # Work already queued on the stream still completes (cuStreamDestroy's contract).
    cuda_driver().cuStreamDestroy_v2(ctypes.c_void_p(handle))


def dedicated_stream(device: torch.device, owner: object) -> torch.cuda.ExternalStream:
    """A non-blocking stream on ``device`` that no other code is handed; destroyed when
    ``owner`` is collected."""
    with torch.cuda.device(device):
        torch.cuda.current_stream(device).query()  # makes the device's primary context current
        libcuda = cuda_driver()
        context = ctypes.c_void_p()
        if libcuda.cuCtxGetCurrent(ctypes.byref(context)) != 0 or not context.value:
            raise RuntimeError(f"no current CUDA context for {device}")
        handle = ctypes.c_void_p()
        result = libcuda.cuStreamCreate(ctypes.byref(handle), CU_STREAM_NON_BLOCKING)
        if result != 0:
            raise RuntimeError(f"cuStreamCreate failed with CUresult {result}")
        stream = torch.cuda.ExternalStream(handle.value, device=device)
    weakref.finalize(owner, _destroy, handle.value)
    return stream


class SideStream:
    """A dedicated stream (``dedicated_stream``, owned by ``owner``) forked from the current
    stream and joined back through two events of its own: both are capturable, so a graph
    records the fork and the join as edges between the two streams' work."""

    def __init__(self, device: torch.device, owner: object) -> None:
        self.stream = dedicated_stream(device, owner)
        self._forked = torch.cuda.Event()
        self._joined = torch.cuda.Event()

    def fork(self) -> torch.cuda.Stream:
        """Make the side stream wait for the current stream's work so far; returns the
        current stream, for ``join``."""
        main = torch.cuda.current_stream(self.stream.device)
        self._forked.record(main)
        self.stream.wait_event(self._forked)
        return main

    def join(self, main: torch.cuda.Stream) -> None:
        """Make ``main`` wait for the side stream's work so far."""
        self._joined.record(self.stream)
        main.wait_event(self._joined)
