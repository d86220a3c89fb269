"""benchmarks/jit_cache.sh on made-up caches: saved in chunks, restored across device calls
once FlashInfer is installed, byte for byte and in the places each cache is read from, and
left out when built with another FlashInfer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "jit_cache.sh"
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("bash", "xz", "tar", "split")),
    reason="jit_cache.sh needs bash, xz, tar and split",
)
MODULE_SO = "flashinfer/0.6.15.post1/90a/cached_ops/batch_prefill_a/batch_prefill_a.so"
TVM_SO = "tvm-ffi/sgl_kernel_jit_rope__arch_sm90a__tvmffi_0.1.11/sgl_kernel_jit_rope.so"


class Machine:
    """A device machine's home, its /tmp/site and its chunk store, under ``root``. Its
    ``python3`` sees only the standard library and the site (not this test's packages, which
    hold a real FlashInfer)."""

    def __init__(self, root: Path) -> None:
        self.home, self.site, self.chunks = root / "home", root / "site", root / "chunks"
        self.bin = root / "bin"
        for folder in (self.home, self.site, self.bin):
            folder.mkdir(parents=True)
        python = self.bin / "python3"
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
        python.chmod(0o755)

    def install_flashinfer(self, version: str) -> None:
        (self.site / "flashinfer").mkdir()
        (self.site / "flashinfer" / "__init__.py").write_text("")
        info = self.site / f"flashinfer_python-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: flashinfer-python\nVersion: {version}\n"
        )

    def run(self, *args: str) -> str:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("FLASHINFER_WORKSPACE_BASE", "TVM_FFI_CACHE_DIR", "TRITON_CACHE_DIR")
        }
        env.update(
            HOME=str(self.home),
            PAT_SITE=str(self.site),
            JIT_CHUNKS_DIR=str(self.chunks),
            PATH=f"{self.bin}:{env['PATH']}",
        )
        result = subprocess.run(
            ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


def built_caches(machine: Machine) -> dict[str, bytes]:
    """Caches as a server leaves them: FlashInfer's modules with their objects, a tvm-ffi
    module with its build files, Triton's cache. Returns each library's bytes by its path
    under the home."""
    files = {
        f".cache/{MODULE_SO}": os.urandom(3 << 20),  # incompressible: several chunks
        ".cache/flashinfer/0.6.15.post1/90a/cached_ops/merge_b/merge_b.so": b"merge",
        f".cache/{TVM_SO}": b"rope",
        ".triton/cache/ABC/kernel.cubin": b"cubin",
    }
    leftovers = {
        ".cache/flashinfer/0.6.15.post1/90a/cached_ops/batch_prefill_a/prefill.cuda.o": b"o",
        ".cache/tvm-ffi/sgl_kernel_jit_rope__arch_sm90a__tvmffi_0.1.11/build.ninja": b"n",
    }
    for path, content in {**files, **leftovers}.items():
        (machine.home / path).parent.mkdir(parents=True, exist_ok=True)
        (machine.home / path).write_bytes(content)
    return files


def test_saved_in_chunks_and_restored_once_flashinfer_is_installed(tmp_path: Path) -> None:
    built = Machine(tmp_path / "built")
    built.install_flashinfer("0.6.15.post1")
    files = built_caches(built)
    out = tmp_path / "out"
    report = built.run("save", str(out), "1")
    assert "flashinfer-aot: 2 files" in report and "tvm-ffi: 1 files" in report
    chunks = sorted(out.glob("jit-cache.tar.xz.chunk*"))
    assert len(chunks) >= 3 and not (out / "jit-cache.tar.xz").exists()
    assert all(chunk.name.endswith(f"-of-{len(chunks)}") for chunk in chunks)

    fresh = Machine(tmp_path / "fresh")
    first, rest = tmp_path / "call1", tmp_path / "call2"
    first.mkdir(), rest.mkdir()
    shutil.copy(chunks[0], first)
    for chunk in chunks[1:]:
        shutil.copy(chunk, rest)
    assert f"1 of {len(chunks)} chunks so far" in fresh.run("restore", str(first))
    assert "FlashInfer not installed yet" in fresh.run("restore", str(rest))
    fresh.install_flashinfer("0.6.15.post1")
    placed = fresh.run("restore", str(tmp_path / "not-carried"))
    assert "2 FlashInfer modules, 1 tvm-ffi modules and 1 Triton kernels in place" in placed

    aot = fresh.site / "flashinfer" / "data" / "aot"
    module = (aot / "batch_prefill_a" / "batch_prefill_a.so").read_bytes()
    assert module == files[f".cache/{MODULE_SO}"]
    assert (aot / "merge_b" / "merge_b.so").read_bytes() == b"merge"
    libraries = sorted(p.name for p in aot.rglob("*") if p.is_file())
    assert libraries == ["batch_prefill_a.so", "merge_b.so"]  # the modules' objects stay behind
    assert (fresh.home / ".cache" / TVM_SO).read_bytes() == b"rope"
    assert not list((fresh.home / ".cache" / "tvm-ffi").rglob("build.ninja"))
    assert (fresh.home / ".triton/cache/ABC/kernel.cubin").read_bytes() == b"cubin"
    assert not list(fresh.chunks.glob("jit-cache.tar.xz.chunk*"))
    assert fresh.run("restore", str(first)) == ""  # once a machine


def test_left_out_when_built_with_another_flashinfer(tmp_path: Path) -> None:
    built = Machine(tmp_path / "built")
    built.install_flashinfer("0.6.15.post1")
    built_caches(built)
    out = tmp_path / "out"
    built.run("save", str(out))
    fresh = Machine(tmp_path / "fresh")
    fresh.install_flashinfer("0.7.0")
    said = fresh.run("restore", str(out))
    assert "left out, built with flashinfer 0.6.15.post1" in said
    assert "here flashinfer 0.7.0" in said
    assert not (fresh.site / "flashinfer" / "data").exists()
    assert not (fresh.home / ".cache").exists() and not (fresh.home / ".triton").exists()
