"""Compile the decode kernels for sm_90 on a machine without a GPU, with Triton's own ptxas.

python benchmarks/experiments/aot_sass/check.py [--against COMMIT]

For each specialization (GQA group, head_dim, page size, dtype, logit cap), prints the pack
kernel's shared memory, registers and stack (cuobjdump -res-usage) for its three launches
(all items; with the lean kernel, the shared part and the private part), and whether one
shared-part program and ``lean.programs_per_sm`` private-part programs fit on an H200 SM.
With ``--against``, whether each build (all items; the shared and private parts; with
``--store``, each storing build), the merge and the plan's upload kernel (session 60; the
gather before it) compile to the same SASS as that commit's kernels (``old_kernels``). A
launch specializes the pointers and integers that are multiples of 16; here all are (true of
the strides of SGLang's buffers for head_dim 64-256 and 8+ q heads; a page stride is 0 for 3-D
buffers).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import itertools
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import triton
from sglang_pat.kernels.gather import _upload_plan_kernel
from sglang_pat.kernels.launch_upload import GATHER_BLOCK, UPLOAD_COPY_BLOCK
from sglang_pat.kernels.merge import _merge_states_kernel
from sglang_pat.kernels.pack_decode import ALL_ITEMS, PRIVATE_PART, SHARED_PART, _pack_decode_kernel
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from sglang_pat.cost_model import default_tile_menu, private_part_tiles

TARGET = GPUTarget("cuda", 90, 64)  # H100 / H200
SM_SHARED_BYTES = 233472  # 228 KB a block may use on an H200 SM, 1 KB reserved per block
SM_REGISTERS = 65536
INT_POINTERS = {"kv_indices_ptr", "items_ptr", "members_ptr", "header_ptr", "queue_ptr"}
NOT_ALIGNED = {"sm_scale", "logit_cap"}  # every integer the launches pass is a multiple of 16
BIN = Path(triton.__file__).parent / "backends/nvidia/bin"


def compile_kernel(fn, constexprs: dict, dtype: str, unaligned=(), **options):
    parameters = inspect.signature(fn.fn).parameters
    names = list(parameters)
    constexprs = {k: v for k, v in constexprs.items() if k in names}  # an older kernel's own
    # constexprs left at their defaults (PDL, NEW_KV_MEMBERS), as a launch compiles them
    defaults = {
        name: p.default
        for name, p in parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    constexprs = {**defaults, **constexprs}
    signature = {}
    for name in names:
        if name in constexprs:
            signature[name] = "constexpr"
        elif name in INT_POINTERS:
            signature[name] = "*i32"
        elif name.endswith("indptr_ptr"):
            signature[name] = "*i32"
        elif name == "new_loc_ptr":  # SGLang's out_cache_loc
            signature[name] = "*i64"
        elif name.endswith("_ptr"):
            signature[name] = "*fp32" if name.startswith("partial") else f"*{dtype}"
        else:
            signature[name] = "fp32" if name in ("sm_scale", "logit_cap") else "i32"
    attrs = {
        (i,): [["tt.divisibility", 16]]
        for i, name in enumerate(names)
        if name not in constexprs and name not in NOT_ALIGNED and name not in unaligned
    }
    source = ASTSource(fn, signature, constexprs, attrs)
    return triton.compile(source, target=TARGET, options=options)


def _tool(name: str, kernel, *flags: str) -> str:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        return subprocess.run(
            [str(BIN / name), *flags, f.name], capture_output=True, text=True, check=True
        ).stdout


def resources(kernel) -> dict[str, int]:
    line = _tool("cuobjdump", kernel, "-res-usage").strip().splitlines()[-1]
    found = dict(re.findall(r"(REG|STACK):(\d+)", line))
    return {
        "shared": kernel.metadata.shared,
        "regs": int(found["REG"]),
        "stack": int(found["STACK"]),
    }


def sass(kernel) -> list[str]:
    text = _tool("nvdisasm", kernel, "-c")
    return [re.sub(r"/\*[0-9a-f]+\*/", "", s).strip() for s in text.splitlines() if "/*" in s]


def old_package(commit: str) -> tuple[str, Path]:
    """That commit's ``kernels/`` as an importable package of its own: (its name, its folder)."""
    root = Path(tempfile.mkdtemp())
    package = root / ("kernels_" + re.sub(r"\W", "_", commit))  # an importable name
    package.mkdir()
    names = subprocess.run(
        ["git", "ls-tree", "--full-tree", "--name-only", f"{commit}:kernels"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in names:
        text = subprocess.run(
            ["git", "show", f"{commit}:kernels/{name}"], capture_output=True, text=True, check=True
        ).stdout
        (package / name).write_text(text)
    sys.path.insert(0, str(root))
    return package.name, package


def old_kernels(commit: str):
    """That commit's pack, merge and upload kernels (None for a commit before session 60's upload
    kernel). Until session 57 they were one module, ``kernels/pack_decode.py``; since,
    ``kernels/`` holds them in several, imported here as a package of their own."""
    name, package = old_package(commit)
    pack = importlib.import_module(f"{name}.pack_decode")
    split = (package / "merge.py").exists()
    merge = importlib.import_module(f"{name}.merge") if split else pack
    gather = importlib.import_module(f"{name}.gather") if split else pack
    upload = getattr(gather, "_upload_plan_kernel", None)
    return pack._pack_decode_kernel, merge._merge_states_kernel, upload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="a commit whose default pack kernel should match")
    parser.add_argument("--groups", default="1,2,4,8,16")
    parser.add_argument("--head-dims", default="128")
    parser.add_argument("--pages", default="1")
    parser.add_argument("--dtypes", default="bf16")
    parser.add_argument("--logit-cap", action="store_true", help="also with a logit cap")
    parser.add_argument(
        "--store", action="store_true", help="also each build storing the new K/V (session 52)"
    )
    args = parser.parse_args()
    merge_alignment()
    old, old_merge, old_upload = old_kernels(args.against) if args.against else (None,) * 3
    print(f"upload kernel: {resources(upload_build())}", flush=True)
    if old is not None:
        builds = [(merge_build, old_merge)] + ([(upload_build, old_upload)] if old_upload else [])
        same = [sass(build()) == sass(build(kernel)) for build, kernel in builds]
        print(f"merge and upload kernels, same SASS as {args.against}: {same}", flush=True)
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    caps = (False, True) if args.logit_cap else (False,)
    for group, head_dim, page, dtype, cap in itertools.product(
        ints(args.groups), ints(args.head_dims), ints(args.pages), args.dtypes.split(","), caps
    ):
        menu = default_tile_menu(head_dim, group, lean=True)
        common = dict(
            NUM_KV_HEADS=8, GROUP=group, HEAD_DIM=head_dim, BLOCK_D=head_dim, V_DIM=head_dim,
            BLOCK_DV=head_dim, PAGE_SIZE=page, HAS_LOGIT_CAP=cap, SAME_KV_LAYOUT=True,
            OFFSET_64=False,
        )  # fmt: skip
        pack = dict(common, NUM_TILES=len(menu.tiles), **menu.kernel_tiles)
        launch = dict(num_warps=menu.num_warps, num_stages=menu.num_stages)
        name = f"G={group} d={head_dim} page={page} {dtype} cap={int(cap)}"
        all_items = dict(pack, PART=ALL_ITEMS.value)
        default = compile_kernel(_pack_decode_kernel, all_items, dtype, **launch)
        line = f"{name}: pack {resources(default)}"
        if old is not None:
            before = compile_kernel(old, all_items, dtype, **launch)
            line += f", same SASS as {args.against}: {sass(default) == sass(before)}"
        print(line, flush=True)
        if args.store:
            print_store_builds(name, menu, pack, common, group, dtype, launch, old, args.against)
        lean = menu.lean
        if lean is None:
            continue
        shared_part = dict(pack, PART=SHARED_PART.value)
        shared_kernel = compile_kernel(_pack_decode_kernel, shared_part, dtype, **launch)
        beside = resources(shared_kernel)
        private, lean_launch = private_build(menu, common, group)
        private_kernel = compile_kernel(_pack_decode_kernel, private, dtype, **lean_launch)
        small = resources(private_kernel)
        if old is not None:
            same = [
                sass(kernel) == sass(compile_kernel(old, constexprs, dtype, **options))
                for kernel, constexprs, options in (
                    (shared_kernel, shared_part, launch),
                    (private_kernel, private, lean_launch),
                )
            ]
            print(f"{name}: shared and private parts, same SASS as {args.against}: {same}")
        shared = (beside["shared"] + 1024) * lean.shared_programs_per_sm + (
            small["shared"] + 1024
        ) * lean.programs_per_sm
        # registers are allocated per warp in units of 256 (8 a thread)
        regs = 32 * (
            -(-beside["regs"] // 8) * 8 * menu.num_warps * lean.shared_programs_per_sm
            + -(-small["regs"] // 8) * 8 * lean.num_warps * lean.programs_per_sm
        )
        fits = shared <= SM_SHARED_BYTES and regs <= SM_REGISTERS
        print(
            f"{name}: pack beside lean {beside}, lean {small}; per SM {shared} B shared,"
            f" {regs} registers: fits {fits}",
            flush=True,
        )


def private_build(menu, common: dict, group: int) -> tuple[dict, dict]:
    """The private part's constexprs and launch options (``menu.lean``)."""
    lean = menu.lean
    private = dict(common, NUM_TILES=1, **private_part_tiles(menu, group), PART=PRIVATE_PART.value)
    launch = dict(num_warps=lean.num_warps, num_stages=lean.num_stages, maxnreg=lean.max_registers)
    return private, launch


def print_store_builds(name, menu, pack, common, group, dtype, launch, old, against) -> None:
    """Each build's resources without and with ``NEW_KV_MEMBERS`` (the kernels storing the
    layer's new K/V, ``PatDecoder(stores_new_kv=True)``); with ``old``, whether the storing
    build compiles to the same SASS as ``against``'s."""
    members = triton.next_power_of_2(max(1, menu.kernel_tiles["MT"] // group))
    builds = [("all", dict(pack, PART=ALL_ITEMS.value), launch)]
    if menu.lean is not None:
        private, lean_launch = private_build(menu, common, group)
        builds += [
            ("shared", dict(pack, PART=SHARED_PART.value), launch),
            ("private", private, lean_launch),
        ]
    for part, constexprs, options in builds:
        without = resources(compile_kernel(_pack_decode_kernel, constexprs, dtype, **options))
        storing = dict(constexprs, NEW_KV_MEMBERS=members)
        storing_kernel = compile_kernel(_pack_decode_kernel, storing, dtype, **options)
        line = f"{name}: {part} build, without the store {without}, storing"
        line += f" {resources(storing_kernel)}"
        if old is not None:
            before = compile_kernel(old, storing, dtype, **options)
            line += (
                f", storing build same SASS as {against}: {sass(storing_kernel) == sass(before)}"
            )
        print(line, flush=True)


MERGE_CONSTEXPRS = dict(
    NUM_HEADS=32, BLOCK_H=8, V_DIM=128, BLOCK_DV=128, PIPELINE_FROM=8, PDL=False, SLOTS_AT_ONCE=0
)


def merge_build(kernel=_merge_states_kernel, unaligned=()):
    """The merge kernel (this tree's or ``kernel``) for 32 heads of 128, bf16 output."""
    return compile_kernel(kernel, MERGE_CONSTEXPRS, "bf16", unaligned=unaligned)


def upload_build(kernel=_upload_plan_kernel):
    """The plan's upload kernel (this tree's or ``kernel``), as ``launch`` launches it."""
    return compile_kernel(kernel, dict(COPY_BLOCK=UPLOAD_COPY_BLOCK, BLOCK=GATHER_BLOCK), "i32")


def merge_alignment() -> None:
    """The merge kernel with its indptr pointer 16-byte aligned and not (the decoder's plan
    buffer sections are not padded to 16 bytes; the header grew from 1 to 3 int32)."""
    kernels = [merge_build(unaligned=names) for names in ((), ("req_partial_indptr_ptr",))]
    print(f"merge kernel, indptr aligned or not: same SASS {sass(kernels[0]) == sass(kernels[1])}")


if __name__ == "__main__":
    sys.exit(main())
