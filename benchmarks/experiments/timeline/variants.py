"""The timed variants of the pack kernel, made from ``kernels/pack_decode.py`` as it is now.

- ``pack_decode_timed``: the stock kernel plus per-unit stamps. Each unit writes 8 int64 to
  ``times_ptr[unit]``: program, start (before its ticket), record (its item record arrived),
  loop end (its KV loop finished), done (its stores issued), item, KV head, and tile (-1:
  packed tails). Times are %globaltimer ns. Each is read by inline asm that takes a value as
  input, so it waits for that value. Everything else is the stock kernel.
- ``pack_decode_timed_split``: the timed kernel with stores by branch. An item of several
  members writes partials only. This is for measurement only: it is wrong for a shared member
  with a single partial, and the timed workloads have none. An item of one member writes
  either its output or its partial, as its member's slot says.

Each edit names the stock text it replaces and fails loudly if the kernel no longer has it.

    python benchmarks/experiments/timeline/variants.py DIR   # write both modules into DIR
"""

import importlib
import sys
import tempfile
from pathlib import Path

KERNEL = Path(__file__).resolve().parents[3] / "kernels" / "pack_decode.py"
STAGES = ("S0", "S1", "S2", "S3")

NOW = '''@triton.jit
def _now(dep):
    """%globaltimer (ns), read after ``dep`` (an int32) is available."""
    return tl.inline_asm_elementwise(
        "mov.u64 $0, %globaltimer; // $1", "=l,r", [dep], dtype=tl.int64, is_pure=False, pack=1
    )


@triton.jit
def _exp2_scale('''
LOOP_END = "    tl.store(times_ptr + 3, _now(tl.max(l_i, 0).to(tl.int32, bitcast=True)))\n"
ITEM_LOOP_END = """            PAGE_SIZE, HAS_LOGIT_CAP, SAME_KV_LAYOUT, OFFSET_64, True,
        )  # fmt: skip
"""
TAILS_LOOP_END = """        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
"""
RECORD = (
    "        kv_start, kv_len, member_start, num_members, chunk, tile"
    " = _item_record(items_ptr, item)\n"
)
STAMPS = """        tl.store(record + 2, _now(kv_len))
        tl.store(record + 0, tl.program_id(0).to(tl.int64))
        tl.store(record + 5, item.to(tl.int64))
        tl.store(record + 6, kv_head.to(tl.int64))
        tl.store(record + 7, tl.where(chunk < 0, -1, tile).to(tl.int64))
"""
TICKET = "        ticket = tl.atomic_add(queue_ptr, 1)"
START = (
    "        record = times_ptr + unit.to(tl.int64) * 8\n        tl.store(record + 1, _now(unit))\n"
)
RESET = "        if ticket == num_units - 1:"
DONE = "        tl.store(record + 4, _now(num_members))\n"


def _with_times(last_param: str, docstring: str) -> tuple[str, str]:
    """An edit that adds ``times_ptr`` after a function's last parameter."""
    old = f'{last_param},\n):\n    """{docstring}'
    return old, old.replace("\n):", "\n    times_ptr,\n):", 1)


def _call_with_record(stages: str) -> tuple[str, str]:
    """An edit that passes the unit's stamp record to a tile helper's call."""
    old = f"                OFFSET_64,\n                {stages},\n            )"
    return old, old.replace(f"{stages},", f"{stages},\n                record,")


TIMED_EDITS = [
    (
        '"""Triton kernels of PAT decode: gather KV indices, multi-tile pack decode, merge.',
        '"""A timed variant of kernels/pack_decode.py (benchmarks/experiments/timeline/).',
    ),
    ("@triton.jit\ndef _exp2_scale(", NOW),
    _with_times("    STAGES: tl.constexpr", "One KV chunk"),
    _with_times("    STAGES: tl.constexpr", "Short private tails"),
    (ITEM_LOOP_END + "\n    _store_rows(", ITEM_LOOP_END + LOOP_END + "\n    _store_rows("),
    (TAILS_LOOP_END + "\n    _store_rows(", TAILS_LOOP_END + LOOP_END + "\n    _store_rows("),
    _with_times("    S3: tl.constexpr", "Persistent"),
    (TICKET, START + TICKET),
    (RECORD, RECORD + STAMPS),
    (RESET, DONE + RESET),
] + [_call_with_record(stages) for stages in STAGES]
# S0 is passed twice (the packed tails and tile 0): how often an edit's text must occur
COUNTS = {_call_with_record("S0")[0]: 2}

STORES = """@triton.jit
def _store_out(o_ptr, acc, l_i, row_valid, batch, q_head, stride_ob, stride_oh,
               V_DIM: tl.constexpr, BLOCK_DV: tl.constexpr):  # fmt: skip
    offs_dv = tl.arange(0, BLOCK_DV)
    out = acc / l_i[:, None]
    tl.store(
        o_ptr + batch[:, None] * stride_ob + q_head[:, None] * stride_oh + offs_dv[None, :],
        out.to(o_ptr.dtype.element_ty),
        mask=row_valid[:, None] & (offs_dv < V_DIM)[None, :],
    )


@triton.jit
def _store_partials(partial_o_ptr, partial_lse_ptr, acc, m_i, l_i, exp2_scale, row_valid,
                    slot_base, q_head, chunk, stride_po_slot, stride_po_head, stride_pl_slot,
                    V_DIM: tl.constexpr, BLOCK_DV: tl.constexpr):  # fmt: skip
    offs_dv = tl.arange(0, BLOCK_DV)
    out = acc / l_i[:, None]
    slot = (slot_base + chunk).to(tl.int64)
    tl.store(
        partial_o_ptr + slot[:, None] * stride_po_slot + q_head[:, None] * stride_po_head
        + offs_dv[None, :],
        out,
        mask=row_valid[:, None] & (offs_dv < V_DIM)[None, :],
    )  # fmt: skip
    lse = (m_i * exp2_scale + tl.log2(l_i)) * 0.6931471805599453
    tl.store(partial_lse_ptr + slot * stride_pl_slot + q_head, lse, mask=row_valid)


@triton.jit
def _attend_block("""
PARTIALS = """_store_partials(
            partial_o_ptr, partial_lse_ptr, acc, m_i, l_i, exp2_scale, row_valid, slot_base,
            q_head, chunk, stride_po_slot, stride_po_head, stride_pl_slot, V_DIM, BLOCK_DV,
        )  # fmt: skip
"""
ITEM_STORE = """    _store_rows(
        o_ptr, partial_o_ptr, partial_lse_ptr, acc, m_i, l_i, exp2_scale, row_valid, batch,
        slot_base, q_head, chunk, stride_ob, stride_oh, stride_po_slot, stride_po_head,
        stride_pl_slot, V_DIM, BLOCK_DV,
    )  # fmt: skip
"""
SPLIT_EDITS = [
    ("@triton.jit\ndef _attend_block(", STORES),
    (
        LOOP_END + "\n" + ITEM_STORE,
        LOOP_END + "\n    if num_members > 1:\n        " + PARTIALS
        + "    elif tl.load(members_ptr + member_start * 4 + 1) < 0:\n"
        + "        _store_out(o_ptr, acc, l_i, row_valid, batch, q_head, stride_ob, stride_oh,"
        + " V_DIM, BLOCK_DV)\n    else:\n        " + PARTIALS,
    ),
]  # fmt: skip


def _edit(source: str, edits: list[tuple[str, str]], name: str) -> str:
    for old, new in edits:
        if source.count(old) != COUNTS.get(old, 1):
            raise ValueError(f"{name}: kernels/pack_decode.py no longer has {old[:60]!r}")
        source = source.replace(old, new)
    return source


def sources() -> dict[str, str]:
    timed = _edit(KERNEL.read_text(), TIMED_EDITS, "pack_decode_timed")
    return {
        "pack_decode_timed": timed,
        "pack_decode_timed_split": _edit(timed, SPLIT_EDITS, "pack_decode_timed_split"),
    }


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in sources().items():
        (directory / f"{name}.py").write_text(text)


def load(name: str):
    """Import one variant (written to a temporary directory: Triton reads its source)."""
    directory = Path(tempfile.mkdtemp(prefix="pat-timed-"))
    write(directory)
    sys.path.insert(0, str(directory))
    return importlib.import_module(name)


if __name__ == "__main__":
    write(Path(sys.argv[1]))
