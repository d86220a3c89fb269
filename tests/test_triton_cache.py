"""benchmarks/experiments/detached/triton_cache.sh: pat's compiled kernels saved and restored
(what a cache hit loads), other kernels left out."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks/experiments/detached/triton_cache.sh"


def run(cache: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "TRITON_CACHE_DIR": str(cache)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=environ, capture_output=True, text=True, check=False
    )


def kernel_group(cache: Path, key: str, kernel: str) -> None:
    """A Triton cache entry as 3.6 writes it: the group index, metadata, cubin and more."""
    entry = cache / key
    entry.mkdir(parents=True)
    group = {"child_paths": {f"{kernel}.cubin": str(entry / f"{kernel}.cubin")}}
    (entry / f"__grp__{kernel}.json").write_text(json.dumps(group))
    (entry / f"{kernel}.json").write_text(json.dumps({"name": kernel}))
    (entry / f"{kernel}.cubin").write_bytes(b"\x7fELF")
    (entry / f"{kernel}.ptx").write_text("// not needed for a hit")


def test_save_keeps_pat_kernels_beside_others_and_restores_them(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    kernel_group(cache, "AAA", "_pack_decode_kernel")
    kernel_group(cache, "BBB", "fused_rms_norm")  # not pat's: its group index lacks the names
    kernel_group(cache, "CCC", "_merge_states_kernel")
    archive = tmp_path / "cache.tgz"
    saved = run(cache, "save", str(archive))
    # Session 26: one group without pat's kernels made grep -l exit 1, and the script stopped
    # there under pipefail, with no archive and no message.
    assert saved.returncode == 0, saved.stderr
    assert "saved 2 kernels" in saved.stdout
    with tarfile.open(archive) as tar:
        names = sorted(Path(name).as_posix().removeprefix("./") for name in tar.getnames())
    assert names == [
        "AAA/__grp___pack_decode_kernel.json",
        "AAA/_pack_decode_kernel.cubin",
        "AAA/_pack_decode_kernel.json",
        "CCC/__grp___merge_states_kernel.json",
        "CCC/_merge_states_kernel.cubin",
        "CCC/_merge_states_kernel.json",
    ]
    fresh = tmp_path / "fresh"
    restored = run(fresh, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert (fresh / "AAA/_pack_decode_kernel.cubin").read_bytes() == b"\x7fELF"
    assert not (fresh / "BBB").exists()


def test_save_with_nothing_of_pat_says_so(tmp_path: Path) -> None:
    """Session 26: when grep -l matched nothing (there, in one of xargs' batches of a full
    cache) it exited 1, and under pipefail the script stopped, with no archive and no word."""
    cache = tmp_path / "cache"
    kernel_group(cache, "BBB", "fused_rms_norm")
    saved = run(cache, "save", str(tmp_path / "cache.tgz"))
    assert saved.returncode == 0 and "no pat kernels" in saved.stdout
    assert not (tmp_path / "cache.tgz").exists()
