"""SGLang servers for the GPU scripts: start, wait until healthy, always stop.

``running(specs)`` starts every spec at once (several small servers may share one H200 when
each pins its KV pool with ``--max-total-tokens``), yields once all are healthy, and kills
every process group on the way out, whether the body returned, raised or was interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests

# Flags the offline H200 bundle needs (see ../shared/device/README.md).
DEVICE_FLAGS = ["--sampling-backend", "pytorch", "--grammar-backend", "none"]


@dataclasses.dataclass
class ServerSpec:
    name: str
    model: Path
    backend: str
    port: int
    log: Path
    flags: Sequence[str] = ()
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    # pat through our launcher (`python -m sglang_pat.launch_server`) or through stock
    # `python -m sglang.launch_server` and the plugin entry point.
    launcher: str = "sglang.launch_server"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            self.launcher,
            "--model-path",
            str(self.model),
            "--attention-backend",
            self.backend,
            "--port",
            str(self.port),
            *DEVICE_FLAGS,
            *self.flags,
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_healthy(specs: Sequence[ServerSpec], procs: Sequence[subprocess.Popen], timeout: float):
    pending = set(range(len(specs)))
    deadline = time.time() + timeout
    started = time.time()
    while pending:
        for i in sorted(pending):
            if procs[i].poll() is not None:
                tail = specs[i].log.read_text(errors="replace").splitlines()[-15:]
                raise RuntimeError(f"server {specs[i].name} exited:\n" + "\n".join(tail))
            with contextlib.suppress(requests.RequestException):
                if requests.get(specs[i].url + "/health", timeout=2).ok:
                    pending.discard(i)
                    took = time.time() - started
                    print(f"  {specs[i].name}: healthy after {took:.0f} s", flush=True)
        if time.time() > deadline:
            names = ", ".join(specs[i].name for i in pending)
            raise RuntimeError(f"servers not healthy after {timeout:.0f} s: {names}")
        time.sleep(2)


@contextlib.contextmanager
def running(specs: Sequence[ServerSpec], timeout: float = 480) -> Iterator[None]:
    """Start all ``specs``, wait until each answers /health, stop them all on exit."""
    procs: list[subprocess.Popen] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for spec in specs:
            spec.log.parent.mkdir(parents=True, exist_ok=True)
            print(f"  {spec.name}: {' '.join(spec.command()[1:])}", flush=True)
            with open(spec.log, "w") as log:
                procs.append(
                    subprocess.Popen(
                        spec.command(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, **spec.env},
                        start_new_session=True,
                    )
                )
        _wait_healthy(specs, procs, timeout)
        yield
    finally:
        for process in procs:
            _stop(process)
        signal.signal(signal.SIGTERM, previous)
